"""The code format: round trip, typo detection, MAC, normalization."""

import random

import pytest

from app.activation_codes import format as codes

MASTER = b"m" * 32
KEY = codes.derive_batch_key(MASTER, 7)


def sample(count=200):
    rng = random.Random(20261122)
    return [codes.mint(KEY, 7, serial=rng.getrandbits(codes.SERIAL_BITS)) for _ in range(count)]


def test_round_trip():
    code = codes.mint(KEY, 7, serial=123456789)
    shown = codes.display(code)
    assert len(code) == 25 and shown.count("-") == 4
    assert all(len(group) == 5 for group in shown.split("-"))
    parsed = codes.parse(shown)
    assert (parsed.version, parsed.batch, parsed.serial) == (1, 7, 123456789)
    codes.verify(parsed, KEY)


def test_serials_are_random_and_at_least_60_bits():
    minted = {codes.parse(codes.mint(KEY, 7)).serial for _ in range(500)}
    assert len(minted) == 500
    assert codes.SERIAL_BITS >= 60 and codes.MAC_BITS >= 40


def test_input_is_normalized():
    code = codes.display(codes.mint(KEY, 7))
    typed = "  " + code.lower().replace("-", " ") + "\n"
    assert codes.parse(typed).code == code.replace("-", "")


@pytest.mark.parametrize("char", ["0", "1", "O", "I", "o", "i"])
def test_look_alikes_get_a_hint(char):
    code = codes.mint(KEY, 7)
    with pytest.raises(codes.MalformedCode, match="never contain"):
        codes.parse(char + code[1:])


def test_every_single_symbol_typo_is_caught_by_the_check_symbol():
    for code in sample(60):
        for position in range(codes.LENGTH):
            for symbol in codes.ALPHABET:
                if symbol == code[position]:
                    continue
                typo = code[:position] + symbol + code[position + 1:]
                with pytest.raises(codes.MalformedCode):
                    codes.normalize(typo)


def test_adjacent_swaps_are_caught():
    blind_spot = 0
    for code in sample():
        for position in range(codes.LENGTH - 1):
            a, b = code[position], code[position + 1]
            if a == b:
                continue
            swapped = code[:position] + b + a + code[position + 2:]
            if {a, b} == {"A", "9"}:
                # Luhn mod N's one blind spot (values 0 and N-1): the MAC refuses it instead.
                blind_spot += 1
                parsed = codes.parse(swapped)
                with pytest.raises(codes.ForgedCode):
                    codes.verify(parsed, KEY)
                continue
            with pytest.raises(codes.MalformedCode):
                codes.normalize(swapped)
    assert blind_spot < 20


def test_a_changed_serial_fails_the_mac():
    original = codes.parse(codes.mint(KEY, 7, serial=1000))
    forged_data = codes.mint(b"another key entirely.........!!", 7, serial=1001)
    with pytest.raises(codes.ForgedCode):
        codes.verify(codes.parse(forged_data), KEY)
    # same MAC, different serial: re-encode the fields with the old MAC by hand
    bits = codes._decode(original.code[:-1])
    bits ^= 1 << codes.MAC_BITS  # flip the lowest serial bit
    data = codes._encode(bits, codes.DATA_SYMBOLS)
    tampered = codes.parse(data + codes.check_symbol(data))
    assert tampered.serial == 1001
    with pytest.raises(codes.ForgedCode):
        codes.verify(tampered, KEY)


def test_another_batch_key_does_not_verify():
    code = codes.parse(codes.mint(KEY, 7))
    with pytest.raises(codes.ForgedCode):
        codes.verify(code, codes.derive_batch_key(MASTER, 8))


@pytest.mark.parametrize("text", ["", "ABCDE", "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2-34567", "ÄBCDE" * 5])
def test_malformed(text):
    with pytest.raises(codes.MalformedCode):
        codes.parse(text)
