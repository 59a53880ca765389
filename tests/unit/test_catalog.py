import pytest

from hoop.domain.catalog import (
    ProductStatus,
    check_status_transition,
    gtin_check_digit,
    is_valid_gtin,
    normalize_gtin,
    validate_sku,
)
from hoop.domain.errors import ValidationFailed


@pytest.mark.parametrize(
    "code",
    [
        "4006381333931",  # GTIN-13 (EAN-13), published GS1 example
        "036000291452",  # GTIN-12 (UPC-A)
        "96385074",  # GTIN-8
        "00012345600012",  # GTIN-14
    ],
)
def test_valid_gtins(code):
    assert is_valid_gtin(code)


def test_check_digit_worked_by_hand():
    # 400638133393 ? : weights from the right 3,1,3,...
    # digits right-to-left: 3 9 3 3 3 1 8 3 6 0 0 4
    # 3*3 + 9 + 3*3 + 3 + 3*3 + 1 + 3*8 + 3 + 3*6 + 0 + 3*0 + 4 = 9+9+9+3+9+1+24+3+18+0+0+4 = 89
    # check = (10 - 89 % 10) % 10 = 1
    assert gtin_check_digit("400638133393") == 1


@pytest.mark.parametrize("code", ["4006381333932", "12345", "abcdefghijklm", "", "0360002914521"])
def test_invalid_gtins(code):
    assert not is_valid_gtin(code)
    with pytest.raises(ValidationFailed):
        normalize_gtin(code)


def test_gtin_normalized_to_14_digits():
    assert normalize_gtin("96385074") == "00000096385074"


@pytest.mark.parametrize("sku", ["TEE-RED-M", "a", "x.y_z/1"])
def test_good_skus(sku):
    assert validate_sku(sku) == sku


@pytest.mark.parametrize("sku", ["", " ", "-lead", "has space", "x" * 65, "ü"])
def test_bad_skus(sku):
    with pytest.raises(ValidationFailed):
        validate_sku(sku)


def test_archived_returns_via_draft_only():
    with pytest.raises(ValidationFailed):
        check_status_transition(ProductStatus.archived, ProductStatus.active)
    check_status_transition(ProductStatus.archived, ProductStatus.draft)
    check_status_transition(ProductStatus.draft, ProductStatus.active)
