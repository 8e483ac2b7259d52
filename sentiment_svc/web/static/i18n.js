// UI strings in Russian, Ukrainian and English, and the language switch.
// Markup names its strings with data-i18n (text), data-i18n-label (aria-label),
// data-i18n-placeholder and data-i18n-title; code calls t(key, {vars}).

import { CX_STRINGS } from "./i18n_cx.js";

const STRINGS = {
  en: {
    "nav.console": "Operator console", "nav.supervisor": "Supervisor wall", "nav.qa": "Quality review",
    "nav.main": "Consoles",
    "lang.label": "Language",
    "signin.title": "Sign in", "signin.token": "Access token", "signin.operator": "Operator ID",
    "signin.submit": "Sign in", "signin.out": "Sign out",
    "signin.open_hint": "Leave the token empty if the service runs without tokens.",
    "signin.bad_token": "Unknown token. Check it and sign in again.",
    "signin.forbidden": "This token may not open this console.",
    "signin.failed": "Could not sign in: {message}",
    "conn.connecting": "Connecting…", "conn.open": "Live", "conn.retry": "Reconnecting in {s} s…",
    "conn.closed": "Disconnected",
    "voice.raised": "Raised voice", "speaker.customer": "Customer", "speaker.operator": "Operator",
    "action.apology": "Apologise", "action.bonus": "Offer a bonus",
    "action.supervisor": "Call the supervisor", "action.thank": "Thank the customer",
    "severity.info": "Info", "severity.warning": "Warning", "severity.critical": "Critical",
    "level.calm": "Calm", "level.tense": "Tense", "level.escalated": "Escalated",
    "level.critical": "Critical",
    "ack.apologised": "Apologised", "ack.offered_bonus": "Offered bonus",
    "ack.called_supervisor": "Called supervisor", "ack.dismissed": "Dismiss",
    "outcome.apologised": "apologised", "outcome.offered_bonus": "offered a bonus",
    "outcome.called_supervisor": "called the supervisor", "outcome.dismissed": "dismissed",
    "ack.by_speech": "Heard in the conversation: {outcome}",
    "console.history": "Returning customer: {n} earlier contacts in {days} days, {bad} of them negative",
    "console.contact.chat": "Chat {id}", "console.contact.messenger": "Messenger {id}",
    "console.contact.email": "E-mail {id}",
    "card.title": "Earlier contacts", "card.summary": "{n} contacts in {days} days",
    "card.contact": "{channel} {when}, {outcome}", "card.open": "Open complaints:",
    "card.today": "today", "card.yesterday": "yesterday", "card.days_ago": "{n} days ago",
    "card.outcome.unresolved": "not resolved:", "card.outcome.resolved": "resolved",
    "card.outcome.no_complaint": "no complaint", "card.last_ack": "prompt answered: {outcome}",
    "channel.phone": "call", "channel.chat": "chat", "channel.messenger": "messenger",
    "channel.email": "e-mail",
    "ack.done": "Acknowledged: {outcome}", "ack.sending": "Sending…",
    "ack.failed": "Not saved: {message}",
    "reason.supervisor_or_legal": "The customer asks for a supervisor or threatens legal action",
    "reason.out_of_control": "The call keeps escalating after earlier prompts",
    "reason.may_leave": "The customer threatens to leave",
    "reason.repeated_money": "The same money or repeat-contact complaint came up again",
    "reason.upset": "The customer is upset", "reason.satisfied": "The customer is satisfied",
    "reason.repeats": "The customer repeats the same complaint",
    "category.not_helped": "Not helped", "category.repeat_contact": "Repeat contact",
    "category.waiting": "Waiting", "category.money": "Money", "category.rudeness": "Rudeness",
    "category.escalation_request": "Asks for a supervisor",
    "category.churn_threat": "Threatens to leave", "category.legal_threat": "Legal threat",
    "category.profanity": "Profanity", "category.gratitude": "Gratitude",
    "console.title": "Operator console", "console.transcript": "Transcript",
    "console.mood": "Customer mood", "console.alerts": "Prompts",
    "console.waiting": "Waiting for a call…", "console.no_alerts": "No prompts in this call.",
    "console.call": "Call {id}", "console.ended": "The call has ended.", "console.ended_text": "The conversation has ended.",
    "console.at": "at {time}", "console.evidence": "The customer said",
    "console.announce": "New prompt: {action}. {reason}",
    "console.gauge": "Customer mood {value}, level {level}",
    "wall.title": "Supervisor wall", "wall.empty": "No live calls right now.",
    "wall.calls": "Live calls: {n}", "wall.last_alert": "Last prompt",
    "wall.no_alert": "No prompts", "wall.open": "Open the transcript of {operator}'s call",
    "wall.transcript": "Live transcript", "wall.close": "Close", "wall.ended": "Ended",
    "wall.trend": "Mood trend",
    "qa.title": "Quality review", "qa.search": "Search calls", "qa.since": "From",
    "qa.until": "To", "qa.operator": "Operator", "qa.category": "Category", "qa.any": "Any",
    "qa.has_alert": "Prompts", "qa.with_alerts": "With prompts", "qa.without_alerts": "Without prompts",
    "qa.text": "Words", "qa.text_hint": "e.g. supervisor, complaint", "qa.find": "Find",
    "qa.started": "Started", "qa.channel": "Channel", "qa.duration": "Duration", "qa.status": "Status",
    "qa.open": "Open", "qa.none": "Nothing found.", "qa.more": "More",
    "qa.found": "Calls found: {n}",
    "status.live": "Live", "status.completed": "Completed", "status.interrupted": "Interrupted",
    "status.failed": "Failed",
    "qa.back": "Back to the search", "qa.call": "Call {id}", "qa.recording": "Recording",
    "qa.no_recording": "This call has no recording.", "qa.curve": "Customer mood over time",
    "qa.curve_label": "Customer mood per utterance; prompt markers seek the recording",
    "qa.marker": "Prompt at {time}: {action}. Play from {from}",
    "qa.acks": "Prompts and acknowledgements", "qa.time_to_address": "Time to address",
    "qa.outcome": "Outcome", "qa.not_acked": "Not acknowledged", "qa.export": "Export",
    "qa.export_json": "JSON", "qa.export_csv": "CSV", "qa.replay": "Replay through the pipeline",
    "qa.speed": "Speed", "qa.start_replay": "Start replay", "qa.stop_replay": "Stop",
    "qa.replay_running": "Replaying at {speed}×…", "qa.replay_done": "Replay finished.",
    "qa.replay_failed": "Replay stopped: {message}", "qa.summary": "Summary",
    "qa.csat": "Estimated CSAT", "qa.negative_share": "Negative share",
    "qa.transcript": "Transcript", "qa.play_from": "Play from {time}",
    "qa.loading": "Loading…", "event.utterance": "utterance", "event.partial": "partial",
    "event.alert": "prompt", "event.summary": "summary",
    "event.replay_started": "replay started", "event.replay_ended": "replay ended",
    "unit.s": "{n} s",
  },
  ru: {
    "nav.console": "Консоль оператора", "nav.supervisor": "Панель супервизора",
    "nav.qa": "Контроль качества", "nav.main": "Консоли",
    "lang.label": "Язык",
    "signin.title": "Вход", "signin.token": "Токен доступа", "signin.operator": "ID оператора",
    "signin.submit": "Войти", "signin.out": "Выйти",
    "signin.open_hint": "Если сервис работает без токенов, оставьте поле пустым.",
    "signin.bad_token": "Неизвестный токен. Проверьте его и войдите снова.",
    "signin.forbidden": "С этим токеном эту консоль открыть нельзя.",
    "signin.failed": "Не удалось войти: {message}",
    "conn.connecting": "Подключение…", "conn.open": "В эфире",
    "conn.retry": "Переподключение через {s} с…", "conn.closed": "Отключено",
    "voice.raised": "Повышенный голос", "speaker.customer": "Клиент", "speaker.operator": "Оператор",
    "action.apology": "Извинитесь", "action.bonus": "Предложите бонус",
    "action.supervisor": "Позовите руководителя", "action.thank": "Поблагодарите клиента",
    "severity.info": "Информация", "severity.warning": "Внимание", "severity.critical": "Критично",
    "level.calm": "Спокойно", "level.tense": "Напряжённо", "level.escalated": "Конфликт",
    "level.critical": "Критично",
    "ack.apologised": "Извинился", "ack.offered_bonus": "Предложил бонус",
    "ack.called_supervisor": "Позвал руководителя", "ack.dismissed": "Отклонить",
    "outcome.apologised": "извинение", "outcome.offered_bonus": "предложен бонус",
    "outcome.called_supervisor": "вызван руководитель", "outcome.dismissed": "отклонено",
    "ack.by_speech": "Прозвучало в разговоре: {outcome}",
    "console.history": "Клиент обращался раньше: обращений за {days} дн. — {n}, негативных — {bad}",
    "console.contact.chat": "Чат {id}", "console.contact.messenger": "Мессенджер {id}",
    "console.contact.email": "Письмо {id}",
    "card.title": "Прошлые обращения", "card.summary": "Обращений за {days} дн.: {n}",
    "card.contact": "{channel} {when}, {outcome}", "card.open": "Открытые жалобы:",
    "card.today": "сегодня", "card.yesterday": "вчера", "card.days_ago": "{n} дн. назад",
    "card.outcome.unresolved": "не решено:", "card.outcome.resolved": "решено",
    "card.outcome.no_complaint": "без жалоб", "card.last_ack": "реакция на подсказку: {outcome}",
    "channel.phone": "звонок", "channel.chat": "чат", "channel.messenger": "мессенджер",
    "channel.email": "письмо",
    "ack.done": "Отмечено: {outcome}", "ack.sending": "Отправка…",
    "ack.failed": "Не сохранено: {message}",
    "reason.supervisor_or_legal": "Клиент просит руководителя или грозит судом",
    "reason.out_of_control": "Разговор накаляется, несмотря на подсказки",
    "reason.may_leave": "Клиент грозит уйти",
    "reason.repeated_money": "Снова жалоба на деньги или повторное обращение",
    "reason.upset": "Клиент расстроен", "reason.satisfied": "Клиент доволен",
    "reason.repeats": "Клиент повторяет ту же жалобу",
    "category.not_helped": "Не помогли", "category.repeat_contact": "Повторное обращение",
    "category.waiting": "Ожидание", "category.money": "Деньги", "category.rudeness": "Грубость",
    "category.escalation_request": "Просит руководителя",
    "category.churn_threat": "Грозит уйти", "category.legal_threat": "Грозит судом",
    "category.profanity": "Брань", "category.gratitude": "Благодарность",
    "console.title": "Консоль оператора", "console.transcript": "Расшифровка",
    "console.mood": "Настроение клиента", "console.alerts": "Подсказки",
    "console.waiting": "Ожидание звонка…", "console.no_alerts": "В этом звонке подсказок нет.",
    "console.call": "Звонок {id}", "console.ended": "Звонок завершён.", "console.ended_text": "Переписка завершена.",
    "console.at": "на {time}", "console.evidence": "Клиент сказал",
    "console.announce": "Новая подсказка: {action}. {reason}",
    "console.gauge": "Настроение клиента {value}, уровень: {level}",
    "wall.title": "Панель супервизора", "wall.empty": "Сейчас нет активных звонков.",
    "wall.calls": "Активных звонков: {n}", "wall.last_alert": "Последняя подсказка",
    "wall.no_alert": "Подсказок нет", "wall.open": "Открыть расшифровку звонка {operator}",
    "wall.transcript": "Расшифровка в реальном времени", "wall.close": "Закрыть",
    "wall.ended": "Завершён", "wall.trend": "Динамика настроения",
    "qa.title": "Контроль качества", "qa.search": "Поиск звонков", "qa.since": "С",
    "qa.until": "По", "qa.operator": "Оператор", "qa.category": "Категория", "qa.any": "Любая",
    "qa.has_alert": "Подсказки", "qa.with_alerts": "С подсказками",
    "qa.without_alerts": "Без подсказок", "qa.text": "Слова",
    "qa.text_hint": "напр. руководитель, жалоба", "qa.find": "Найти",
    "qa.started": "Начало", "qa.channel": "Канал", "qa.duration": "Длительность", "qa.status": "Статус",
    "qa.open": "Открыть", "qa.none": "Ничего не найдено.", "qa.more": "Ещё",
    "qa.found": "Найдено звонков: {n}",
    "status.live": "Идёт", "status.completed": "Завершён", "status.interrupted": "Прерван",
    "status.failed": "Ошибка",
    "qa.back": "К поиску", "qa.call": "Звонок {id}", "qa.recording": "Запись",
    "qa.no_recording": "У этого звонка нет записи.", "qa.curve": "Настроение клиента по ходу звонка",
    "qa.curve_label": "Настроение клиента по репликам; метки подсказок перематывают запись",
    "qa.marker": "Подсказка на {time}: {action}. Воспроизвести с {from}",
    "qa.acks": "Подсказки и реакции оператора", "qa.time_to_address": "Время реакции",
    "qa.outcome": "Реакция", "qa.not_acked": "Без реакции", "qa.export": "Экспорт",
    "qa.export_json": "JSON", "qa.export_csv": "CSV", "qa.replay": "Повторный анализ",
    "qa.speed": "Скорость", "qa.start_replay": "Запустить", "qa.stop_replay": "Остановить",
    "qa.replay_running": "Повтор на скорости {speed}×…", "qa.replay_done": "Повтор завершён.",
    "qa.replay_failed": "Повтор прерван: {message}", "qa.summary": "Итог",
    "qa.csat": "Оценка CSAT", "qa.negative_share": "Доля негатива",
    "qa.transcript": "Расшифровка", "qa.play_from": "Воспроизвести с {time}",
    "qa.loading": "Загрузка…", "event.utterance": "реплика", "event.partial": "черновик",
    "event.alert": "подсказка", "event.summary": "итог",
    "event.replay_started": "повтор начат", "event.replay_ended": "повтор завершён",
    "unit.s": "{n} с",
  },
  uk: {
    "nav.console": "Консоль оператора", "nav.supervisor": "Панель супервізора",
    "nav.qa": "Контроль якості", "nav.main": "Консолі",
    "lang.label": "Мова",
    "signin.title": "Вхід", "signin.token": "Токен доступу", "signin.operator": "ID оператора",
    "signin.submit": "Увійти", "signin.out": "Вийти",
    "signin.open_hint": "Якщо сервіс працює без токенів, залиште поле порожнім.",
    "signin.bad_token": "Невідомий токен. Перевірте його та увійдіть знову.",
    "signin.forbidden": "З цим токеном цю консоль відкрити не можна.",
    "signin.failed": "Не вдалося увійти: {message}",
    "conn.connecting": "Підключення…", "conn.open": "В ефірі",
    "conn.retry": "Перепідключення через {s} с…", "conn.closed": "Відключено",
    "voice.raised": "Підвищений голос", "speaker.customer": "Клієнт", "speaker.operator": "Оператор",
    "action.apology": "Вибачтеся", "action.bonus": "Запропонуйте бонус",
    "action.supervisor": "Покличте керівника", "action.thank": "Подякуйте клієнту",
    "severity.info": "Інформація", "severity.warning": "Увага", "severity.critical": "Критично",
    "level.calm": "Спокійно", "level.tense": "Напружено", "level.escalated": "Конфлікт",
    "level.critical": "Критично",
    "ack.apologised": "Вибачився", "ack.offered_bonus": "Запропонував бонус",
    "ack.called_supervisor": "Покликав керівника", "ack.dismissed": "Відхилити",
    "outcome.apologised": "вибачення", "outcome.offered_bonus": "запропоновано бонус",
    "outcome.called_supervisor": "викликано керівника", "outcome.dismissed": "відхилено",
    "ack.by_speech": "Прозвучало в розмові: {outcome}",
    "console.history": "Клієнт звертався раніше: звернень за {days} дн. — {n}, негативних — {bad}",
    "console.contact.chat": "Чат {id}", "console.contact.messenger": "Месенджер {id}",
    "console.contact.email": "Лист {id}",
    "card.title": "Попередні звернення", "card.summary": "Звернень за {days} дн.: {n}",
    "card.contact": "{channel} {when}, {outcome}", "card.open": "Відкриті скарги:",
    "card.today": "сьогодні", "card.yesterday": "вчора", "card.days_ago": "{n} дн. тому",
    "card.outcome.unresolved": "не вирішено:", "card.outcome.resolved": "вирішено",
    "card.outcome.no_complaint": "без скарг", "card.last_ack": "реакція на підказку: {outcome}",
    "channel.phone": "дзвінок", "channel.chat": "чат", "channel.messenger": "месенджер",
    "channel.email": "лист",
    "ack.done": "Позначено: {outcome}", "ack.sending": "Надсилання…",
    "ack.failed": "Не збережено: {message}",
    "reason.supervisor_or_legal": "Клієнт просить керівника або погрожує судом",
    "reason.out_of_control": "Розмова загострюється попри підказки",
    "reason.may_leave": "Клієнт погрожує піти",
    "reason.repeated_money": "Знову скарга на гроші або повторне звернення",
    "reason.upset": "Клієнт засмучений", "reason.satisfied": "Клієнт задоволений",
    "reason.repeats": "Клієнт повторює ту саму скаргу",
    "category.not_helped": "Не допомогли", "category.repeat_contact": "Повторне звернення",
    "category.waiting": "Очікування", "category.money": "Гроші", "category.rudeness": "Грубість",
    "category.escalation_request": "Просить керівника",
    "category.churn_threat": "Погрожує піти", "category.legal_threat": "Погрожує судом",
    "category.profanity": "Лайка", "category.gratitude": "Подяка",
    "console.title": "Консоль оператора", "console.transcript": "Розшифровка",
    "console.mood": "Настрій клієнта", "console.alerts": "Підказки",
    "console.waiting": "Очікування дзвінка…", "console.no_alerts": "У цьому дзвінку підказок немає.",
    "console.call": "Дзвінок {id}", "console.ended": "Дзвінок завершено.", "console.ended_text": "Листування завершено.",
    "console.at": "на {time}", "console.evidence": "Клієнт сказав",
    "console.announce": "Нова підказка: {action}. {reason}",
    "console.gauge": "Настрій клієнта {value}, рівень: {level}",
    "wall.title": "Панель супервізора", "wall.empty": "Зараз немає активних дзвінків.",
    "wall.calls": "Активних дзвінків: {n}", "wall.last_alert": "Остання підказка",
    "wall.no_alert": "Підказок немає", "wall.open": "Відкрити розшифровку дзвінка {operator}",
    "wall.transcript": "Розшифровка в реальному часі", "wall.close": "Закрити",
    "wall.ended": "Завершено", "wall.trend": "Динаміка настрою",
    "qa.title": "Контроль якості", "qa.search": "Пошук дзвінків", "qa.since": "З",
    "qa.until": "По", "qa.operator": "Оператор", "qa.category": "Категорія", "qa.any": "Будь-яка",
    "qa.has_alert": "Підказки", "qa.with_alerts": "З підказками",
    "qa.without_alerts": "Без підказок", "qa.text": "Слова",
    "qa.text_hint": "напр. керівник, скарга", "qa.find": "Знайти",
    "qa.started": "Початок", "qa.channel": "Канал", "qa.duration": "Тривалість", "qa.status": "Статус",
    "qa.open": "Відкрити", "qa.none": "Нічого не знайдено.", "qa.more": "Ще",
    "qa.found": "Знайдено дзвінків: {n}",
    "status.live": "Триває", "status.completed": "Завершено", "status.interrupted": "Перервано",
    "status.failed": "Помилка",
    "qa.back": "До пошуку", "qa.call": "Дзвінок {id}", "qa.recording": "Запис",
    "qa.no_recording": "Цей дзвінок не має запису.", "qa.curve": "Настрій клієнта протягом дзвінка",
    "qa.curve_label": "Настрій клієнта за репліками; мітки підказок перемотують запис",
    "qa.marker": "Підказка на {time}: {action}. Відтворити з {from}",
    "qa.acks": "Підказки та реакції оператора", "qa.time_to_address": "Час реакції",
    "qa.outcome": "Реакція", "qa.not_acked": "Без реакції", "qa.export": "Експорт",
    "qa.export_json": "JSON", "qa.export_csv": "CSV", "qa.replay": "Повторний аналіз",
    "qa.speed": "Швидкість", "qa.start_replay": "Запустити", "qa.stop_replay": "Зупинити",
    "qa.replay_running": "Повтор зі швидкістю {speed}×…", "qa.replay_done": "Повтор завершено.",
    "qa.replay_failed": "Повтор перервано: {message}", "qa.summary": "Підсумок",
    "qa.csat": "Оцінка CSAT", "qa.negative_share": "Частка негативу",
    "qa.transcript": "Розшифровка", "qa.play_from": "Відтворити з {time}",
    "qa.loading": "Завантаження…", "event.utterance": "репліка", "event.partial": "чернетка",
    "event.alert": "підказка", "event.summary": "підсумок",
    "event.replay_started": "повтор почато", "event.replay_ended": "повтор завершено",
    "unit.s": "{n} с",
  },
};

export const LANGUAGES = [["ru", "Русский"], ["uk", "Українська"], ["en", "English"]];
const STORAGE_KEY = "sentiment-svc.lang";
// The policy's English reasons (policy.yaml); a reason a centre added itself is shown as is.
const REASONS = {
  "The customer asks for a supervisor or threatens legal action": "reason.supervisor_or_legal",
  "The call keeps escalating after earlier prompts": "reason.out_of_control",
  "The customer threatens to leave": "reason.may_leave",
  "The same money or repeat-contact complaint came up again": "reason.repeated_money",
  "The customer is upset": "reason.upset",
  "The customer repeats the same complaint": "reason.repeats",
  "The customer is satisfied": "reason.satisfied",
};

for (const [code, extra] of Object.entries(CX_STRINGS)) Object.assign(STRINGS[code], extra);

export const strings = STRINGS;  // for the completeness test

function initialLanguage() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && STRINGS[saved]) return saved;
  for (const wanted of navigator.languages || [navigator.language || "en"]) {
    const code = wanted.toLowerCase().slice(0, 2);
    if (STRINGS[code]) return code;
  }
  return "en";
}

let current = initialLanguage();

export function language() {
  return current;
}

/** The string `key` in the current language, {placeholders} filled from `vars`; a var
 * given as {key: "..."} is itself translated (so it follows a language switch). */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => {
    if (!(name in vars)) return `{${name}}`;
    const value = vars[name];
    return value && typeof value === "object" ? t(value.key, value.vars) : String(value);
  });
}

export function has(key) {
  return key in STRINGS.en;
}

/** The string key of one of the policy's reasons, or null for a reason added locally. */
export function reasonKey(text) {
  return REASONS[text] || null;
}

const ATTRIBUTES = [["i18nLabel", "data-i18n-label", "aria-label"],
                    ["i18nPlaceholder", "data-i18n-placeholder", "placeholder"],
                    ["i18nTitle", "data-i18n-title", "title"]];

function vars(node) {
  try {
    return JSON.parse(node.dataset.i18nVars || "{}");
  } catch {
    return {};
  }
}

/** Put every marked string under `root` in the current language (data-i18n-vars: a JSON
 * object of the placeholders, for strings built at run time). */
export function translate(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n, vars(node));
  for (const [key, attribute, target] of ATTRIBUTES) {
    for (const node of root.querySelectorAll(`[${attribute}]`)) node.setAttribute(target, t(node.dataset[key], vars(node)));
  }
}

export function setLanguage(code) {
  if (!STRINGS[code]) return;
  current = code;
  localStorage.setItem(STORAGE_KEY, code);
  document.documentElement.lang = code;
  translate();
  window.dispatchEvent(new CustomEvent("languagechange-ui", { detail: code }));
}

/** Fill a <select> with the languages and switch on change. */
export function languageSwitch(select) {
  select.replaceChildren(...LANGUAGES.map(([code, name]) => new Option(name, code, false, code === current)));
  select.addEventListener("change", () => setLanguage(select.value));
  document.documentElement.lang = current;
  translate();
}

/** mm:ss (or h:mm:ss) for seconds into a call. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${Math.floor(s / 60)}:${ss}`;
}
