#!/usr/bin/env python3
"""Build scripted, synthetic phone-call test audio (Russian / Ukrainian).

Every call is a list of turns (speaker, text, pause before the turn).  Each turn
is synthesised separately:

* Russian customer   -> Festival, voice ``msu_ru_nsh_clunits`` (male)
* Russian operator   -> the same Festival voice shifted up 5 semitones and
  sped up 15 % with sox ``pitch 500 tempo -s 1.15`` (higher, female-ish,
  faster); ``--ru-operator espeak`` selects
  espeak-ng ``ru+f3`` instead (see VOICES for why that is not the default)
* Ukrainian customer -> the Festival Russian voice reading the text respelled in
  Russian letters (a Russian-accented speaker; Whisper-base cannot read espeak-ng
  Ukrainian at all); ``--uk-customer espeak`` selects espeak-ng ``uk`` instead
* Ukrainian operator -> the operator's Festival voice (pitch and tempo as the Russian
  operator) reading the respelled text; ``--uk-customer espeak`` gives espeak-ng ``uk+f3``

then run through sox to make it sound like a phone line (band-limited to
100-3800 Hz with ``sinc``, resampled to 8 kHz, 16-bit, levelled to the same
active-speech RMS, optional extra ``gain`` for "raised voice" turns), trimmed
of the synthesiser's own leading/trailing silence (plus a 5 ms fade) and placed
on a timeline with digital silence between turns.

Output per call: ``<name>.wav`` (8 kHz, 16-bit PCM; mono, or stereo with
left = customer, right = operator) and ``<name>.json`` with the script:
a list of ``{speaker, text, start, end, ...}`` (seconds) in time order. The v2 calls
(``calls_v2.py``: stereo, one per failure class of issue 23) write an object instead:
``{kind, no_thank, classes, windows, turns}``, where each window is the trigger turn's
``start`` to its ``end`` + 10 s and the ``actions`` one of which must alert in it.

Only the Python standard library is used; the external tools are
``text2wave`` (festival + festvox-ru), ``espeak-ng`` and ``sox``.
The output is deterministic for a given set of tool versions.

Usage::

    python3 audio_samples/scripted/make_calls.py            # writes next to this file
    python3 audio_samples/scripted/make_calls.py --out DIR --only stereo_ru
"""

from __future__ import annotations

import argparse
import array
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

RATE = 8000  # output sample rate, Hz
LEAD_IN = 0.5  # silence at the very start of every call, s
TAIL = 0.8  # silence after the last turn, s
RMS_DBFS = -24.0  # every turn's active-speech RMS is levelled to this before extra gain
MAX_PEAK_DBFS = -1.0  # hard limit: a turn whose peak would exceed this is an error
ACT_FRAME = 160  # 20 ms at 8 kHz, for the active-speech RMS
ACT_REL_DB = -30.0  # frames within this of the loudest frame count as active speech
BAND = "100-3800"  # phone-like band; NOT 300-3400 (kills VAD on the male voice)
ESPEAK_SPEED = 150  # words per minute
TRIM_REL_DB = -40.0  # trim synthesiser silence below peak + this (dB)
TRIM_MARGIN = 0.03  # keep this much (s) around the detected speech
FADE = 0.005  # fade in/out at the cut, s

CUSTOMER = "customer"
OPERATOR = "operator"

OPERATOR_PITCH_CENTS = 500  # sox "pitch" for the Festival operator voice (+5 semitones)
OPERATOR_TEMPO = 1.15  # sox "tempo -s" for the Festival operator voice (speaks a bit faster)


@dataclass(frozen=True)
class Voice:
    engine: str  # "festival" | "espeak-ng"
    name: str  # festival voice / espeak-ng voice+variant
    pitch_cents: int = 0  # optional sox "pitch" shift applied before the phone line
    tempo: float = 1.0  # optional sox "tempo -s" factor applied before the phone line
    respell_uk: bool = False  # Ukrainian text respelled for the Russian Festival voice

    def label(self) -> str:
        extra = f"+pitch{self.pitch_cents:+d}c" if self.pitch_cents else ""
        extra += f"+tempo{self.tempo:g}" if self.tempo != 1.0 else ""
        extra += "+uk-respelled" if self.respell_uk else ""
        return f"{self.engine}:{self.name}{extra}"

    def sox_effects(self) -> list[str]:
        eff = ["pitch", str(self.pitch_cents)] if self.pitch_cents else []
        return eff + (["tempo", "-s", f"{self.tempo:g}"] if self.tempo != 1.0 else [])


# (lang, speaker) -> Voice.
# The Russian operator defaults to the Festival voice shifted up 5 semitones:
# espeak-ng "ru+f3" is a clearly different voice but Whisper-base cannot
# transcribe it (see README), which would make the operator's negative words in
# stereo_ru invisible to ASR and the "operator stays out of customer sentiment"
# test vacuous.  Use --ru-operator espeak to get the espeak-ng variant instead.
VOICES = {
    ("ru", CUSTOMER): Voice("festival", "msu_ru_nsh_clunits"),
    ("ru", OPERATOR): Voice("festival", "msu_ru_nsh_clunits", OPERATOR_PITCH_CENTS, OPERATOR_TEMPO),
    ("uk", CUSTOMER): Voice("espeak-ng", "uk"),  # replaced below unless --uk-customer espeak
    ("uk", OPERATOR): Voice("espeak-ng", "uk+f3"),
}
ESPEAK_RU_OPERATOR = Voice("espeak-ng", "ru+f3")
# A Russian-accented Ukrainian speaker: the Festival Russian voice reads Ukrainian text
# respelled in Russian letters (і->и, и->ы, е->э, є->е, ї->йи, ґ->г, apostrophe->ъ).
FESTIVAL_UK_CUSTOMER = Voice("festival", "msu_ru_nsh_clunits", respell_uk=True)
FESTIVAL_UK_OPERATOR = Voice(
    "festival", "msu_ru_nsh_clunits", OPERATOR_PITCH_CENTS, OPERATOR_TEMPO, respell_uk=True
)
UK_RESPELLING = str.maketrans({
    "и": "ы", "і": "и", "е": "э", "є": "е", "ї": "йи", "ґ": "г", "'": "ъ", "’": "ъ",
    "И": "Ы", "І": "И", "Е": "Э", "Є": "Е", "Ї": "Йи", "Ґ": "Г",
})


@dataclass
class Turn:
    speaker: str  # CUSTOMER | OPERATOR
    text: str
    pause: float  # silence before this turn (after the previous one ends), s
    gain_db: float = 0.0  # extra gain on top of RMS_DBFS ("raised voice")
    trigger: str | None = None  # v2: the actions ("negative", "supervisor") it must alert


@dataclass
class Call:
    name: str
    lang: str  # "ru" | "uk"
    stereo: bool  # True: L = customer, R = operator; False: mono mix
    turns: list[Turn] = field(default_factory=list)
    description: str = ""
    kind: str | None = None  # v2: "calm" | "escalating" (the JSON carries the expectations)
    no_thank: bool = False
    classes: tuple[str, ...] = ()


CU, OP = CUSTOMER, OPERATOR

CALLS: list[Call] = [
    Call(
        "stereo_ru",
        "ru",
        stereo=True,
        description=(
            "Stereo, L=customer (calm, tariff question, thanks), R=operator who reads "
            "out an old complaint full of negative words. No overlap."
        ),
        turns=[
            Turn(OP, "Служба поддержки, здравствуйте. Чем могу помочь?", 0.0),
            Turn(CU, "Добрый день. Подскажите, пожалуйста, какой у меня сейчас тариф.", 0.5),
            Turn(
                OP,
                "Минуту. Я вижу ваше прошлое обращение. Вы пишете, что вам не помогли, "
                "что это безобразие, и вы уже третий раз звоните, и требуете руководителя.",
                0.5,
            ),
            Turn(
                CU,
                "Это старое обращение, вопрос уже решён. Сейчас я просто хочу узнать про тариф.",
                0.5,
            ),
            Turn(
                OP,
                "Там ещё написано: ужасное обслуживание, отвратительный сервис, верните деньги. "
                "А ваш тариф стоит пятьсот рублей в месяц.",
                0.5,
            ),
            Turn(CU, "Хорошо, спасибо большое. Всего доброго.", 0.5),
            Turn(OP, "Всего доброго, до свидания.", 0.5),
        ],
    ),
    Call(
        "stereo_apology_ru",
        "ru",
        stereo=True,
        description=(
            "Stereo, L=customer who complains twice, R=operator who then apologises and "
            "offers compensation: the alerts are addressed from the operator's speech."
        ),
        turns=[
            Turn(OP, "Служба поддержки, здравствуйте. Чем могу помочь?", 0.0),
            Turn(CU, "Мне так и не помогли, я уже третий раз звоню по этому вопросу.", 0.5),
            Turn(OP, "Подождите, пожалуйста, я проверю вашу заявку.", 0.5),
            Turn(CU, "Это безобразие, с меня опять списали деньги, верните деньги.", 0.5),
            Turn(OP, "Приношу свои извинения за неудобства.", 0.5),
            Turn(OP, "Я верну вам деньги и начислю бонусы в качестве компенсации.", 0.5),
            Turn(CU, "Хорошо, посмотрим.", 0.5),
        ],
    ),
    Call(
        "personal_data_ru",
        "ru",
        stereo=False,
        description=(
            "Mono, customer dictates a phone number and a card number: both must be masked "
            "before anything is stored or pushed (152-FZ)."
        ),
        turns=[
            Turn(CU, "Здравствуйте, я хочу узнать, почему заблокирована моя карта.", 0.0),
            Turn(CU, "Мой телефон восемь девятьсот шестнадцать сто двадцать три "
                     "сорок пять шестьдесят семь.", 2.0),
            Turn(CU, "Номер карты четыре два семь шесть, три восемь ноль ноль, "
                     "один два три четыре, пять шесть семь девять.", 2.0),
        ],
    ),
    Call(
        "calm_ru",
        "ru",
        stereo=False,
        description="Mono, customer only: polite neutral customer (balance, delivery, thanks).",
        turns=[
            Turn(CU, "Здравствуйте. Подскажите, пожалуйста, какой у меня сейчас баланс.", 0.0),
            Turn(CU, "Хорошо, понятно. А когда будет доставка моего заказа?", 2.5),
            Turn(CU, "Номер заказа один два три четыре пять.", 2.0),
            Turn(CU, "Значит, в четверг. Мне это удобно.", 2.5),
            Turn(CU, "Спасибо большое за помощь. До свидания.", 2.0),
        ],
    ),
    Call(
        "escalating_ru",
        "ru",
        stereo=False,
        description=(
            "Mono, customer only: neutral start, escalates to a complaint; the last two "
            "turns are louder (+8 dB, raised voice), never clipping."
        ),
        turns=[
            Turn(CU, "Здравствуйте. Я звоню по поводу возврата денег за заказ.", 0.0),
            Turn(CU, "Номер заказа один два три четыре пять.", 2.5),
            Turn(
                CU,
                "Я оформил возврат две недели назад, мне обещали вернуть деньги за три дня.",
                3.0,
            ),
            Turn(CU, "Мне так и не помогли.", 3.0),
            Turn(CU, "Я уже третий раз звоню по этому вопросу.", 3.0),
            Turn(CU, "Это безобразие, верните деньги!", 2.5, gain_db=8.0),
            Turn(CU, "Позовите руководителя!", 2.5, gain_db=8.0),
        ],
    ),
    Call(
        "escalating_uk",
        "uk",
        stereo=False,
        description="Mono, customer only, Ukrainian: neutral start, escalates to a complaint.",
        turns=[
            Turn(CU, "Добрий день. Я телефоную щодо повернення грошей за замовлення.", 0.0),
            Turn(CU, "Номер замовлення один два три чотири п'ять.", 2.5),
            Turn(
                CU,
                "Я оформив повернення два тижні тому, мені обіцяли повернути гроші за три дні.",
                3.0,
            ),
            Turn(CU, "Мені так і не допомогли.", 2.5),
            Turn(CU, "Я вже втретє дзвоню з цього питання.", 3.0),
            Turn(CU, "Поверніть гроші!", 2.5),
            Turn(CU, "Покличте керівника!", 2.5),
        ],
    ),
    Call(
        "negation_ru",
        "ru",
        stereo=False,
        description="Mono, customer only: calm customer using negation (NOT negative).",
        turns=[
            Turn(CU, "Здравствуйте. Нет-нет, всё хорошо.", 0.0),
            Turn(CU, "Не могу сказать, что я недоволен.", 2.5),
            Turn(CU, "Мне помогли в прошлый раз, хочу ещё спросить про тариф.", 2.5),
            Turn(CU, "Спасибо, это всё, что я хотел узнать.", 2.5),
        ],
    ),
    Call(
        "sarcasm_ru",
        "ru",
        stereo=False,
        description="Mono, customer only: sarcasm with positive words, then an explicit complaint.",
        turns=[
            Turn(CU, "Ну конечно, очень быстро, всего-то неделю жду.", 0.0),
            Turn(CU, "Замечательный сервис, ничего не скажешь.", 2.5),
            Turn(CU, "Сколько можно ждать?", 2.5),
        ],
    ),
]


def v2_calls() -> list[Call]:
    """The stereo v2 calls of ``calls_v2.py`` (customer left, operator right)."""
    from calls_v2 import CALLS_V2

    speakers = {"c": CUSTOMER, "o": OPERATOR}
    return [
        Call(spec["name"], spec["lang"], stereo=True, kind=spec["kind"],
             no_thank=spec["no_thank"], classes=tuple(spec["classes"]),
             description=f"v2 {spec['kind']}: {', '.join(spec['classes'])}",
             turns=[Turn(speakers[who], text, pause, gain, trigger)
                    for who, text, pause, gain, trigger in spec["turns"]])
        for spec in CALLS_V2
    ]


def v2_expectations(call: Call, script: list[dict]) -> dict:
    """What the test checks on a v2 call: its kind and the windows its triggers open."""
    from calls_v2 import WINDOW_S

    windows = [
        {"trigger": item["text"], "start": item["start"],
         "end": round(item["end"] + WINDOW_S, 6), "actions": turn.trigger}
        for turn, item in zip(call.turns, script, strict=True) if turn.trigger
    ]
    return {"kind": call.kind, "no_thank": call.no_thank, "classes": list(call.classes),
            "windows": windows, "turns": script}


def run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")


def synthesise(text: str, engine: str, voice: str, out_wav: Path) -> None:
    """Raw TTS output (native rate) into out_wav."""
    if engine == "festival":
        # text2wave reads UTF-8 text fine for msu_ru_nsh (KOI8-R input does NOT work).
        txt = out_wav.with_suffix(".txt")
        txt.write_text(text + "\n", encoding="utf-8")
        run(["text2wave", "-eval", f"(voice_{voice})", str(txt), "-o", str(out_wav)])
    elif engine == "espeak-ng":
        run(["espeak-ng", "-v", voice, "-s", str(ESPEAK_SPEED), "-w", str(out_wav), text])
    else:
        raise ValueError(engine)


def active_level_db(samples: array.array, full_scale: float) -> tuple[float, float]:
    """(peak dBFS, RMS dBFS over active 20 ms frames) of integer samples."""
    n = ACT_FRAME
    frames = [samples[i : i + n] for i in range(0, len(samples) - n + 1, n)]
    powers = [sum(v * v for v in f) / n for f in frames]
    top = max(powers, default=0)
    if top == 0:
        raise RuntimeError("synthesiser produced silence")
    thr = top * 10 ** (ACT_REL_DB / 10)
    act = [p for p in powers if p >= thr]
    rms = math.sqrt(sum(act) / len(act)) / full_scale
    peak = max(abs(v) for v in samples) / full_scale
    return 20 * math.log10(peak), 20 * math.log10(rms)


def phone_line(in_wav: Path, tmp_prefix: Path, gain_db: float, pre: list[str] = ()) -> array.array:
    """Band-limit, resample to 8 kHz mono, level to RMS_DBFS (+extra gain), 16-bit.

    Two sox passes: (1) optional voice effects ``pre`` (pitch/tempo), ``sinc``
    band-pass, resample to 8 kHz, 32-bit with fixed headroom; (2) one ``gain``
    that brings the active-speech RMS to RMS_DBFS + gain_db, 16-bit PCM.
    Refuses to produce a peak above MAX_PEAK_DBFS, so nothing ever clips.
    """
    band = tmp_prefix.with_name(tmp_prefix.name + "_band.s32")  # headerless, little-endian
    out = tmp_prefix.with_name(tmp_prefix.name + "_8k.s16")
    raw32 = ["-t", "raw", "-r", str(RATE), "-c", "1", "-b", "32", "-e", "signed-integer", "-L"]
    raw16 = ["-t", "raw", "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", "-L"]
    # -D: no dither -> bit-exact, reproducible output
    run(
        [
            "sox",
            "-D",
            str(in_wav),
            *raw32,
            str(band),
            *pre,
            "sinc",
            BAND,
            "rate",
            "-v",
            str(RATE),
            "gain",
            "-n",
            "-12",
        ]
    )
    peak_db, rms_db = active_level_db(read_raw(band, "i"), 2.0**31)
    g = RMS_DBFS + gain_db - rms_db
    if peak_db + g > MAX_PEAK_DBFS:
        raise ValueError(f"{in_wav.name}: peak would be {peak_db + g:.1f} dBFS (> {MAX_PEAK_DBFS})")
    run(["sox", "-D", *raw32, str(band), *raw16, str(out), "gain", f"{g:.2f}"])
    return read_raw(out, "h")


def read_raw(path: Path, typecode: str) -> array.array:
    """Headerless little-endian signed PCM ("h": 16-bit, "i": 32-bit)."""
    data = array.array(typecode)
    data.frombytes(path.read_bytes())
    if sys.byteorder == "big":
        data.byteswap()
    return data


def trim(samples: array.array) -> array.array:
    """Drop the synthesiser's own leading/trailing silence (keep a short margin)."""
    peak = max((abs(s) for s in samples), default=0)
    if peak == 0:
        raise RuntimeError("synthesiser produced silence")
    thr = peak * 10 ** (TRIM_REL_DB / 20)
    idx = [i for i, s in enumerate(samples) if abs(s) > thr]
    margin = int(TRIM_MARGIN * RATE)
    a = max(0, idx[0] - margin)
    b = min(len(samples), idx[-1] + 1 + margin)
    out = samples[a:b]
    # short linear fade in/out so the cut never produces a click
    n = min(int(FADE * RATE), len(out) // 2)
    for i in range(n):
        k = (i + 1) / (n + 1)
        out[i] = int(round(out[i] * k))
        out[-1 - i] = int(round(out[-1 - i] * k))
    return out


def render_turn(turn: Turn, lang: str, tmp: Path, key: str) -> array.array:
    voice = VOICES[(lang, turn.speaker)]
    raw = tmp / f"{key}_raw.wav"
    text = turn.text.translate(UK_RESPELLING) if voice.respell_uk else turn.text
    if not raw.exists():  # pre-synthesised by festival_session for the v2 calls
        synthesise(text, voice.engine, voice.name, raw)
    return trim(phone_line(raw, tmp / key, turn.gain_db, voice.sox_effects()))


def festival_session(calls: list[Call], tmp: Path) -> None:
    """Synthesise every Festival turn of the v2 calls in one Festival process.

    text2wave loads the voice (half a gigabyte) for every turn, which took about a minute per
    turn on a busy machine; one session loads it once. Each turn is one utterance
    (``utt.synth`` of its whole text), saved as RIFF at the voice's rate, as text2wave does.
    """
    lines: list[str] = []
    current = None
    for call in calls:
        if call.kind is None:
            continue
        for index, turn in enumerate(call.turns):
            voice = VOICES[(call.lang, turn.speaker)]
            if voice.engine != "festival":
                continue
            text = turn.text.translate(UK_RESPELLING) if voice.respell_uk else turn.text
            text = text.replace("\\", " ").replace('"', " ")
            raw = tmp / f"{call.name}_{index:02d}_raw.wav"
            if voice.name != current:
                lines.append(f"(voice_{voice.name})")
                current = voice.name
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{raw}" \'riff)')
    if lines:
        script = tmp / "session.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        run(["festival", "--batch", str(script)])


def build_call(call: Call, out_dir: Path, tmp: Path) -> dict:
    rendered = [
        render_turn(t, call.lang, tmp, f"{call.name}_{i:02d}") for i, t in enumerate(call.turns)
    ]

    # timeline (sample offsets); turns never overlap by construction
    script = []
    pos = int(round(LEAD_IN * RATE))
    placed = []
    for turn, samples in zip(call.turns, rendered, strict=True):
        pos += int(round(turn.pause * RATE))
        start, end = pos, pos + len(samples)
        placed.append((turn, samples, start))
        item = {
            "speaker": turn.speaker,
            "text": turn.text,
            "start": round(start / RATE, 6),  # exact: 1/8000 s = 0.000125 s
            "end": round(end / RATE, 6),
            "lang": call.lang,
            "channel": (0 if turn.speaker == CUSTOMER else 1) if call.stereo else 0,
            "tts": VOICES[(call.lang, turn.speaker)].label(),
            "gain_db": turn.gain_db,
        }
        script.append(item)
        pos = end
    total = pos + int(round(TAIL * RATE))

    nch = 2 if call.stereo else 1
    chans = [array.array("h", bytes(2 * total)) for _ in range(nch)]
    for turn, samples, start in placed:
        ch = (0 if turn.speaker == CUSTOMER else 1) if call.stereo else 0
        chans[ch][start : start + len(samples)] = samples

    if nch == 1:
        frames = chans[0]
    else:
        frames = array.array("h", bytes(2 * total * nch))
        frames[0::2] = chans[0]
        frames[1::2] = chans[1]
    if sys.byteorder == "big":
        frames.byteswap()

    wav_path = out_dir / f"{call.name}.wav"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(nch)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames.tobytes())

    json_path = out_dir / f"{call.name}.json"
    data = script if call.kind is None else v2_expectations(call, script)
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return {"name": call.name, "duration": total / RATE, "channels": nch, "turns": script}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output folder (default: the folder of this script)",
    )
    names = ", ".join(c.name for c in CALLS) + " and the v2 calls of calls_v2.py"
    ap.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"build only this call (repeatable); names: {names}",
    )
    ap.add_argument(
        "--ru-operator",
        choices=("festival", "espeak"),
        default="festival",
        help="Russian operator voice: Festival msu_ru_nsh +5 semitones, tempo 1.15 "
        "(default, ASR-intelligible) or espeak-ng ru+f3 (distinct voice, but "
        "Whisper-base cannot transcribe it)",
    )
    ap.add_argument(
        "--uk-customer",
        choices=("festival-respelled", "espeak"),
        default="festival-respelled",
        help="Ukrainian customer voice: the Festival Russian voice reading the text respelled"
        " in Russian letters (default: Russian-accented, but Whisper-base reads much of it)"
        " or espeak-ng uk (Whisper-base cannot read it)",
    )
    args = ap.parse_args(argv)
    if args.ru_operator == "espeak":
        VOICES[("ru", OPERATOR)] = ESPEAK_RU_OPERATOR
    if args.uk_customer == "festival-respelled":
        VOICES[("uk", CUSTOMER)] = FESTIVAL_UK_CUSTOMER
        VOICES[("uk", OPERATOR)] = FESTIVAL_UK_OPERATOR

    for tool in ("text2wave", "festival", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found (apt-get install festival festvox-ru espeak-ng sox)")

    calls = CALLS + v2_calls()
    if args.only:
        unknown = set(args.only) - {c.name for c in calls}
        if unknown:
            ap.error(f"unknown call(s): {', '.join(sorted(unknown))}")
        calls = [c for c in calls if c.name in args.only]

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="make_calls_") as td:
        festival_session(calls, Path(td))
        for call in calls:
            info = build_call(call, args.out, Path(td))
            print(f"{info['name']}.wav  {info['duration']:.2f} s  {info['channels']} ch")
            for t in info["turns"]:
                print(f"  {t['start']:7.3f}-{t['end']:7.3f}  {t['speaker']:<8} {t['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
