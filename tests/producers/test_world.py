"""Checks on the world tables: cities, calendar, categories, payment rails, declines, personas."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from synfinance.producers.world import calendar, categories, declines, geography, payment_rails, personas
from synfinance.producers.world.calendar import (
    FESTIVAL_COUNT_SHARE,
    FESTIVAL_DATES,
    HOURLY_PROFILES,
    festival_multiplier,
)
from synfinance.producers.world.geography import CITIES, NEARBY, city_index, haversine_km

METROS = ("Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai", "Kolkata", "Pune", "Ahmedabad")


def _days(*iso: str) -> np.ndarray:
    return np.array(iso, dtype="datetime64[D]")


# --- geography ---------------------------------------------------------------------------------------


def test_city_table_is_large_unique_and_in_india() -> None:
    assert len(CITIES) >= 50
    names = [c.name for c in CITIES]
    assert len(set(names)) == len(names)
    for c in CITIES:
        assert 6.0 <= c.lat <= 36.0 and 68.0 <= c.lon <= 98.0, c
        assert c.region in geography.REGIONS, c
        assert c.region == geography.STATE_REGION[c.state], c
        assert c.tier in (1, 2, 3), c
    assert {c.region for c in CITIES} == set(geography.REGIONS)
    assert {c.tier for c in CITIES} == {1, 2, 3}


def test_tier_one_is_exactly_the_eight_metros() -> None:
    assert sorted(c.name for c in CITIES if c.tier == 1) == sorted(METROS)
    assert CITIES[city_index("Chennai")].state == "Tamil Nadu"
    assert CITIES[city_index("Delhi")].state == "Delhi"


def test_column_views_agree_with_the_table_and_weights_sum_to_one() -> None:
    assert tuple(c.name for c in CITIES) == geography.CITY_NAMES
    assert geography.CITY_STATES[city_index("Kochi")] == "Kerala"
    assert geography.CITY_REGIONS[city_index("Guwahati")] == "Northeast"
    assert geography.CITY_TIERS.dtype == np.int8
    assert np.array_equal(geography.CITY_TIERS, [c.tier for c in CITIES])
    assert np.array_equal(geography.CITY_LAT, [c.lat for c in CITIES])
    assert np.array_equal(geography.CITY_LON, [c.lon for c in CITIES])
    assert math.isclose(geography.CITY_WEIGHTS.sum(), 1.0, rel_tol=1e-12)
    assert math.isclose(sum(c.population_weight for c in CITIES), 1.0, rel_tol=1e-12)
    assert (geography.CITY_WEIGHTS > 0).all()
    assert geography.CITY_WEIGHTS.argmax() == city_index("Mumbai")
    with pytest.raises(ValueError):
        geography.CITY_WEIGHTS[0] = 0.5  # the shared views are read-only


def test_haversine_mumbai_delhi_and_vectorised() -> None:
    m, d = city_index("Mumbai"), city_index("Delhi")
    km = float(haversine_km(CITIES[m].lat, CITIES[m].lon, CITIES[d].lat, CITIES[d].lon))
    assert abs(km - 1148.0) / 1148.0 < 0.01
    lat, lon = geography.CITY_LAT, geography.CITY_LON
    all_to_mumbai = haversine_km(lat, lon, lat[m], lon[m])
    assert all_to_mumbai.shape == (len(CITIES),)
    assert all_to_mumbai[m] == 0.0
    assert all_to_mumbai[d] == pytest.approx(km)
    with pytest.raises(KeyError, match="Bombay"):
        city_index("Bombay")


def test_nearby_is_within_radius_sorted_and_symmetric() -> None:
    dist = geography.DISTANCE_KM
    assert len(NEARBY) == len(CITIES)
    assert city_index("Pune") in NEARBY[city_index("Mumbai")]
    assert NEARBY[city_index("Mumbai")][0] == city_index("Pune")
    for i, near in enumerate(NEARBY):
        assert i not in near
        ds = [dist[i, j] for j in near]
        assert ds == sorted(ds)
        assert all(x <= geography.NEARBY_RADIUS_KM for x in ds)
        missing = [j for j in range(len(CITIES)) if j != i and j not in near]
        assert all(dist[i, j] > geography.NEARBY_RADIUS_KM for j in missing)
        for j in near:
            assert i in NEARBY[j]


# --- calendar ----------------------------------------------------------------------------------------


def test_hourly_profiles_sum_to_one_with_documented_peaks() -> None:
    assert tuple(HOURLY_PROFILES) == calendar.OCCUPATIONS
    assert len(calendar.OCCUPATIONS) == 8
    for occupation, p in HOURLY_PROFILES.items():
        assert p.shape == (24,)
        assert math.isclose(p.sum(), 1.0, rel_tol=1e-12), occupation
        assert (p[0:5] < 0.02).all(), occupation
    assert 18 <= HOURLY_PROFILES["salaried"].argmax() <= 22
    assert HOURLY_PROFILES["retired"].argmax() < 12
    assert HOURLY_PROFILES["student"].argmax() >= 18
    overall = np.mean(list(HOURLY_PROFILES.values()), axis=0)
    assert 19 <= overall.argmax() <= 21


@pytest.mark.parametrize(
    ("festival", "expected"),
    [
        ("diwali", dt.date(2024, 11, 1)),
        ("diwali", dt.date(2025, 10, 20)),
        ("holi", dt.date(2025, 3, 14)),
        ("eid_al_fitr", dt.date(2025, 3, 31)),
        ("holi", dt.date(2026, 3, 4)),  # gazetted 2026 list
        ("eid_al_adha", dt.date(2026, 5, 27)),  # gazetted 2026 list
        ("dussehra", dt.date(2026, 10, 20)),  # gazetted 2026 list
        ("diwali", dt.date(2026, 11, 8)),  # gazetted 2026 list
    ],
)
def test_known_festival_dates(festival: str, expected: dt.date) -> None:
    assert FESTIVAL_DATES[festival][expected.year] == expected


def test_every_festival_dated_every_supported_year() -> None:
    assert {f.name for f in calendar.FESTIVALS} == set(FESTIVAL_DATES)
    for name, by_year in FESTIVAL_DATES.items():
        assert tuple(by_year) == calendar.TABLE_YEARS == tuple(range(2023, 2031)), name
        assert all(d.year == y for y, d in by_year.items()), name
    assert all(d == dt.date(y, 12, 25) for y, d in FESTIVAL_DATES["christmas"].items())
    # Lunisolar order within a year: Navratri starts, then Durga Ashtami, then Dussehra, then Diwali.
    for y in range(2023, 2061):  # the published years and the computed ones after them
        seq = [calendar.festival_days(n, y)[0] for n in ("navratri", "durga_puja", "dussehra", "diwali")]
        assert seq == sorted(seq) and (seq[2] - seq[0]).days in (8, 9, 10), y
        assert 18 <= (seq[3] - seq[2]).days <= 21, y


def test_festival_multiplier_ordinary_day_peak_and_window() -> None:
    assert festival_multiplier(_days("2024-06-04", "2025-07-15")).tolist() == [1.0, 1.0]
    every_day = np.arange(np.datetime64("2023-01-01"), np.datetime64("2031-01-01"))
    diwalis = {np.datetime64(d) for d in FESTIVAL_DATES["diwali"].values()}
    for region in (None, *geography.REGIONS):
        m = festival_multiplier(every_day, region)
        assert m.min() == 1.0
        assert m.max() == pytest.approx(1 + 1.5 * FESTIVAL_COUNT_SHARE)  # Diwali's spending lift, as a count lift
        assert set(every_day[m == m.max()]) == diwalis, region
    five_before = festival_multiplier(_days("2024-10-27"))[0]
    assert five_before == pytest.approx(1 + 1.5 * FESTIVAL_COUNT_SHARE * (1 - 5 / 11))


def test_regional_festivals_are_full_inside_partial_outside() -> None:
    ashtami = _days("2025-09-30")
    k = FESTIVAL_COUNT_SHARE
    assert festival_multiplier(ashtami, "East")[0] == pytest.approx(1 + 1.2 * k)
    assert festival_multiplier(ashtami, "South")[0] == pytest.approx(1 + 0.3 * 1.2 * k)
    assert festival_multiplier(ashtami, None)[0] == pytest.approx(1 + 0.3 * 1.2 * k)
    onam = _days("2025-09-05")
    assert festival_multiplier(onam, "South")[0] == pytest.approx(1 + 0.9 * k)
    assert festival_multiplier(onam, "North")[0] < 1 + 0.9 * k


def test_out_of_range_years_and_bad_region_raise() -> None:
    for bad in ("1900-12-31", "2200-01-01"):
        with pytest.raises(ValueError, match=r"1901-2199"):
            festival_multiplier(_days("2024-05-05", bad))
    with pytest.raises(ValueError, match="region"):
        festival_multiplier(_days("2024-05-05"), "Mars")


def test_weekday_salary_and_day_multipliers() -> None:
    assert calendar.WEEKDAY_MULTIPLIERS.mean() == pytest.approx(1.0)
    sat, sun, tue = _days("2025-03-15", "2025-03-16", "2025-03-18")
    wd = calendar.weekday_multiplier(np.array([sat, sun, tue]))
    assert wd.tolist() == [1.06, 1.03, 0.96]
    sal = calendar.salary_day_multiplier(_days("2024-02-29", "2024-02-28", "2024-03-02", "2024-03-10"))
    assert sal.tolist() == [1.04, 1.02, 1.05, 1.0]
    days = np.arange(np.datetime64("2025-10-01"), np.datetime64("2025-11-01"))
    expected = (
        festival_multiplier(days, "West")
        * calendar.weekday_multiplier(days)
        * calendar.salary_day_multiplier(days)
    )
    assert np.allclose(calendar.day_multiplier(days, "West"), expected)


# --- categories, rails, declines -------------------------------------------------------------------------


def test_categories_are_unique_with_valid_mcc_and_weights() -> None:
    cats = categories.CATEGORIES
    assert len({c.name for c in cats}) == len(cats)
    for c in cats:
        assert len(c.mcc) == 4 and c.mcc.isdigit(), c.name
        assert 0.0 <= c.online_share <= 1.0 and 0.0 <= c.loyalty <= 1.0 and 0.0 <= c.risk <= 1.0
        assert c.amount_median_inr > 0 and c.amount_sigma > 0 and c.p2m_volume_share > 0
        assert c.local_name_patterns and c.subcategories and c.brands
        assert len({b.name for b in c.brands}) == len(c.brands), c.name
        for b in c.brands:
            assert b.tier_min in (1, 2, 3), b
            assert set(b.states) <= set(geography.STATE_REGION), b
    assert math.isclose(categories.CATEGORY_WEIGHTS.sum(), 1.0, rel_tol=1e-12)
    by = {c.name: c for c in cats}
    assert by["groceries"].mcc == "5411" and by["fuel"].mcc == "5541" and by["cash_like"].mcc == "6540"
    assert by["utilities"].loyalty == 0.95 and by["entertainment"].loyalty == 0.30
    assert by["cash_like"].risk > by["groceries"].risk
    assert categories.CATEGORY_WEIGHTS.argmax() == categories.CATEGORY_NAMES.index("groceries")


def test_p2m_mean_ticket_matches_upi_average() -> None:
    mean = categories.p2m_mean_ticket_inr()
    assert abs(mean / categories.UPI_P2M_AVG_TICKET_INR - 1.0) < 0.15
    assert 600 <= categories.UPI_P2M_AVG_TICKET_INR <= 660
    assert categories.UPI_P2P_AVG_TICKET_INR > 3 * categories.UPI_P2M_AVG_TICKET_INR


def test_payment_mode_and_provider_shares() -> None:
    shares = payment_rails.PAYMENT_MODE_SHARES
    assert math.isclose(sum(shares.values()), 1.0)
    assert 0.80 <= shares["upi"] <= 0.87 and max(shares, key=shares.__getitem__) == "upi"
    assert 0.3 <= payment_rails.P2P_SHARE_OF_UPI <= 0.45
    for table in (payment_rails.WALLET_PROVIDERS, payment_rails.BNPL_PROVIDERS):
        assert math.isclose(sum(table.values()), 1.0)
    apps = payment_rails.UPI_APPS
    assert math.isclose(sum(a.share for a in apps), 1.0)
    assert [a.name for a in apps[:3]] == ["PhonePe", "Google Pay", "Paytm"]
    handles = [h for h, _ in payment_rails.UPI_HANDLES] + [
        b.vpa_handle for b in payment_rails.ISSUER_BANKS if b.vpa_handle
    ]
    assert len(set(handles)) == len(handles) and all(h.startswith("@") for h in handles)
    assert ("@ybl", "PhonePe") in payment_rails.UPI_HANDLES and ("@oksbi", "Google Pay") in payment_rails.UPI_HANDLES


def _bin_matches(network: str, bin6: str) -> bool:
    if network == "Visa":
        return bin6[0] == "4"
    if network == "Mastercard":
        return 51 <= int(bin6[:2]) <= 55 or 2221 <= int(bin6[:4]) <= 2720
    if network == "RuPay":
        return bin6[:2] in ("60", "65", "81", "82") or bin6[:3] == "508"
    if network == "Amex":
        return bin6[:2] in ("34", "37")
    raise AssertionError(network)


def test_card_bins_are_network_consistent_and_unique() -> None:
    all_bins: list[str] = []
    for (bank, network, card_type), bins in payment_rails.CARD_BINS.items():
        assert bank in payment_rails.BANK_NAMES and card_type in payment_rails.CARD_TYPES
        assert network in payment_rails.CARD_NETWORKS[card_type]
        for b in bins:
            assert len(b) == 6 and b.isdigit() and _bin_matches(network, b), (bank, network, b)
        all_bins.extend(bins)
    assert len(set(all_bins)) == len(all_bins)
    seen_networks = {n for _, n, _ in payment_rails.CARD_BINS}
    assert seen_networks == {"Visa", "Mastercard", "RuPay", "Amex"}


def test_card_networks_banks_and_product_weights() -> None:
    for card_type, nets in payment_rails.CARD_NETWORKS.items():
        assert math.isclose(sum(nets.values()), 1.0), card_type
    assert max(payment_rails.CARD_NETWORKS["debit"].items(), key=lambda kv: kv[1])[0] == "RuPay"
    assert max(payment_rails.CARD_NETWORKS["credit"].items(), key=lambda kv: kv[1])[0] == "Visa"
    banks = payment_rails.ISSUER_BANKS
    assert max(banks, key=lambda b: b.debit_share).name == "State Bank of India"
    assert max(banks, key=lambda b: b.credit_share).name == "HDFC Bank"
    for card_type in payment_rails.CARD_TYPES:
        pairs, w = payment_rails.card_product_weights(card_type)
        assert math.isclose(w.sum(), 1.0) and (w > 0).all()
        assert all((bank, net, card_type) in payment_rails.CARD_BINS for bank, net in pairs)


def test_decline_reasons_cover_every_mode_with_real_codes() -> None:
    codes = {r.response_code for r in declines.DECLINE_REASONS}
    assert {"05", "51", "54", "55", "57", "61", "91", "Z9", "ZM", "U30", "U16", "Z8"} <= codes
    assert declines.APPROVED_RESPONSE_CODE == "00" and "00" not in codes
    for context in declines.DECLINE_CONTEXTS:
        reasons = declines.decline_reasons_in(context)
        assert reasons and all(r.weight > 0 for r in reasons)
        upi = context.startswith("upi")
        assert all(r.response_code.isdigit() != upi for r in reasons), context  # ISO 8583 or NPCI codes
    assert {r.response_code for r in declines.decline_reasons_in("upi")} >= {"Z9", "ZM", "U16"}
    pin = {c for c in declines.DECLINE_CONTEXTS
           if "incorrect_pin" in {r.reason for r in declines.decline_reasons_in(c)}}
    collect_only = {r.reason for r in declines.decline_reasons_in("upi_collect")} - {
        r.reason for r in declines.decline_reasons_in("upi")}
    assert pin == {"card_present", "atm"} and collect_only == {"collect_request_expired", "declined_by_customer"}


# --- personas ----------------------------------------------------------------------------------------


def test_personas_weights_and_ranges() -> None:
    ps = personas.PERSONAS
    assert personas.PERSONA_NAMES == (
        "young_professional", "family", "budget_conscious", "tech_savvy", "affluent", "senior", "student",
        "small_business",
    )
    assert math.isclose(personas.PERSONA_WEIGHTS.sum(), 1.0, rel_tol=1e-12)
    by = {p.name: p for p in ps}
    assert by["family"].weight / by["young_professional"].weight == pytest.approx(1.25)
    for p in ps:
        assert 18 <= p.age_min < p.age_max <= 80
        assert 0 < p.ticket_min_inr < p.ticket_max_inr
        assert 0 < p.txns_per_month_min < p.txns_per_month_max
        assert len(p.income_bracket_weights) == len(personas.INCOME_BRACKETS_INR)
        assert math.isclose(sum(p.income_bracket_weights), 1.0), p.name
        assert math.isclose(sum(p.occupation_weights.values()), 1.0), p.name
        assert set(p.occupation_weights) <= set(calendar.OCCUPATIONS)
        assert set(p.category_affinity) <= set(categories.CATEGORY_NAMES)
        assert set(p.payment_mode_affinity) <= set(payment_rails.PAYMENT_MODE_SHARES)
        assert all(v > 0 for v in (*p.category_affinity.values(), *p.payment_mode_affinity.values()))
        assert 0.0 <= p.travel_propensity <= 0.5 and 0.0 <= p.digital_familiarity <= 1.0
    assert by["student"].occupation_weights["student"] > 0.5
    assert by["senior"].occupation_weights["retired"] > 0.5
    lows = [lo for lo, _ in personas.INCOME_BRACKETS_INR]
    assert lows == sorted(lows) and personas.INCOME_BRACKETS_INR[-1] == (400_000, 1_000_000)


def test_name_tables_cover_every_region() -> None:
    for table in (personas.FIRST_NAMES_MALE, personas.FIRST_NAMES_FEMALE, personas.SURNAMES):
        assert set(table) == set(geography.REGIONS)
        flat = [n for names in table.values() for n in names]
        assert len(set(flat)) >= 30
        assert all(names for names in table.values())
        assert all(n[0].isupper() and n.replace("'", "").isalpha() for n in flat)
