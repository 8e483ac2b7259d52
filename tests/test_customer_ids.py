"""A caller's phone number is never kept: the same number in any writing is one keyed
hash, shown masked; other customer ids are kept as they are."""

from __future__ import annotations

from sentiment_svc.live.customer_ids import KEY_FILE, CustomerIds, phone_digits


def test_one_number_in_any_writing_is_one_key_shown_masked():
    ids = CustomerIds(b"a secret")
    writings = ["+79165550142", "89165550142", "tel:+79165550142", "+7 (916) 555-01-42",
                "sip:+79165550142@pbx.example"]
    keys = {ids.key(writing) for writing in writings}
    assert len(keys) == 1
    (key,) = keys
    assert key.id.startswith("tel-") and "5550142" not in key.id
    assert key.label == "+7 916 *** ** 42"
    assert ids.key("+380671234542").label == "+380 67 *** ** 42"


def test_other_ids_are_kept_and_short_numbers_are_no_phones():
    ids = CustomerIds(b"a secret")
    for plain in ("cu-9", "crm-000123", "12345", "alice@example.com"):
        assert ids.key(plain).id == plain and ids.key(plain).label is None
    assert phone_digits("1234567890123456") is None  # longer than E.164


def test_the_key_depends_on_the_secret_which_is_kept_with_the_data(tmp_path):
    number = "+79165550142"
    made = CustomerIds.for_data_dir(tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert CustomerIds.for_data_dir(tmp_path).key(number) == made.key(number)
    assert CustomerIds.for_data_dir(tmp_path, "configured").key(number) != made.key(number)
    assert CustomerIds(b"other").key(number).id != made.key(number).id
