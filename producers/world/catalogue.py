"""Merchant categories and brands, and the Indian payment rails: modes, banks, UPI apps, cards, declines.

Tables and small pure functions only. Calibration figures carry their source next to them; a figure
marked *estimate* is our reading of public reports, not a published number.

Local merchant names are built from ``Category.local_name_patterns`` with the placeholders ``{surname}``
(``personas.SURNAMES``), ``{first}`` (``personas.FIRST_NAMES_MALE``), ``{deity}`` (``DEITIES``) and
``{city}`` (the merchant's city).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Brand:
    """A real chain or platform. It exists in a city iff ``city.tier <= tier_min`` (3 = every city,
    1 = metros only) and, when ``states`` is not empty, the city's state is one of them."""

    name: str
    online: bool
    tier_min: int = 3
    states: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    mcc: str  # ISO 18245 merchant category code
    subcategories: tuple[str, ...]
    brands: tuple[Brand, ...]
    local_name_patterns: tuple[str, ...]
    online_share: float  # share of the category's transactions that are e-commerce / in-app
    loyalty: float  # chance of returning to a favourite merchant
    amount_median_inr: float  # lognormal median
    amount_sigma: float  # lognormal sigma
    p2m_volume_share: float  # share of UPI P2M transaction count
    risk: float  # base merchant risk, 0-1


B = Brand
DEITIES: tuple[str, ...] = (
    "Ganesh", "Lakshmi", "Balaji", "Sai", "Krishna", "Durga", "Murugan", "Hanuman", "Shiva", "Ayyappa",
    "Jagannath", "Kamakhya",
)

# p2m_volume_share: UPI P2M category mix by transaction count, FY2024-25. Anchors: groceries 24.3% of P2M
# volume and the top 15 MCCs 70% (SBI Research on NPCI MCC data, July 2025); grocery, restaurants,
# service stations, clothing, government services, pharmacies lead in-store and e-commerce, gaming,
# utilities, government and financial services lead online (Worldline India Digital Payments Report
# 1H 2024). The split of the remainder is an *estimate*. Amount medians are set so that the
# volume-weighted lognormal mean, ``p2m_mean_ticket_inr()``, is close to UPI_P2M_AVG_TICKET_INR.
CATEGORIES: tuple[Category, ...] = (  # APPEND-ONLY: index = category code
    Category(
        "groceries", "5411",
        ("kirana", "supermarket", "hypermarket", "quick_commerce", "fruits_vegetables", "dairy"),
        (B("D-Mart", False, 2), B("Reliance Fresh", False), B("Big Bazaar", False, 2), B("More", False),
         B("Spencer's", False, 2, ("West Bengal", "Tamil Nadu", "Uttar Pradesh", "Telangana")),
         B("BigBasket", True, 2), B("Zepto", True, 2), B("Blinkit", True, 2), B("Swiggy Instamart", True, 2),
         B("JioMart", True)),
        ("{surname} General Stores", "Sri {deity} Kirana", "{first} Provision Store",
         "New {city} Supermarket", "{surname} Kirana & Dairy", "{deity} Fruits & Vegetables"),
        0.12, 0.75, 220.0, 0.95, 0.263, 0.05),
    Category(
        "food_dining", "5812",
        ("restaurant", "fast_food", "cafe", "sweets_bakery", "food_delivery", "street_food"),
        (B("Zomato", True, 2), B("Swiggy", True, 2), B("Domino's", False), B("McDonald's", False, 2),
         B("KFC", False, 2), B("Haldiram's", False, 2), B("Cafe Coffee Day", False, 2),
         B("Starbucks", False, 1), B("Burger King", False, 2),
         B("Saravana Bhavan", False, 2, ("Tamil Nadu", "Karnataka", "Delhi"))),
        ("{surname} Dhaba", "Sri {deity} Tiffin Centre", "{city} Biryani House", "{first}'s Cafe",
         "{surname} Sweets", "Annapurna {city} Bhojanalaya"),
        0.35, 0.45, 250.0, 0.85, 0.18, 0.08),
    Category(
        "fuel", "5541", ("petrol_pump", "cng_station", "ev_charging"),
        (B("Indian Oil", False), B("HP", False), B("Bharat Petroleum", False), B("Nayara Energy", False),
         B("Jio-bp", False, 2), B("Shell", False, 2)),
        ("{surname} Filling Station", "{city} Auto Fuels", "Sri {deity} Fuel Point"),
        0.0, 0.65, 450.0, 0.7, 0.07, 0.12),
    Category(
        "ecommerce", "5399", ("marketplace", "home_kitchen", "books_stationery", "toys_baby"),
        (B("Amazon", True), B("Flipkart", True), B("Meesho", True), B("Snapdeal", True),
         B("Tata CLiQ", True)),
        ("{surname} Online Store", "{city} Deals"),
        1.0, 0.6, 500.0, 0.95, 0.092, 0.30),
    Category(
        "utilities", "4900", ("electricity", "piped_gas", "water", "broadband"),
        (B("BSES", True, 3, ("Delhi",)), B("Tata Power", True, 3, ("Delhi", "Maharashtra", "Odisha")),
         B("Adani Electricity", True, 3, ("Maharashtra",)), B("MSEDCL", True, 3, ("Maharashtra",)),
         B("BESCOM", True, 3, ("Karnataka",)), B("TANGEDCO", True, 3, ("Tamil Nadu",)),
         B("KSEB", True, 3, ("Kerala",)), B("CESC", True, 3, ("West Bengal",)),
         B("Torrent Power", True, 3, ("Gujarat",)), B("UPPCL", True, 3, ("Uttar Pradesh",)),
         B("TGSPDCL", True, 3, ("Telangana",)), B("Indraprastha Gas", True, 3, ("Delhi", "Haryana")),
         B("Mahanagar Gas", True, 3, ("Maharashtra",))),
        ("{city} Municipal Corporation Water", "{city} Electricity Board", "{surname} Broadband"),
        0.85, 0.95, 750.0, 0.8, 0.04, 0.05),
    Category(
        "telecom", "4814", ("mobile_prepaid", "mobile_postpaid", "dth", "fibre"),
        (B("Jio", True), B("Airtel", True), B("Vi", True), B("BSNL", True), B("Tata Play", True)),
        ("{surname} Mobile Recharge", "Sri {deity} Mobiles & Recharge"),
        0.9, 0.92, 299.0, 0.55, 0.07, 0.10),
    Category(
        "local_transport", "4121", ("ride_hailing", "auto_rickshaw", "metro", "bus", "parking"),
        (B("Ola", True, 2), B("Uber", True, 2), B("Rapido", True, 2),
         B("Namma Yatri", True, 2, ("Karnataka",)), B("Delhi Metro", False, 3, ("Delhi",)),
         B("BEST", False, 3, ("Maharashtra",))),
        ("{first} Auto Service", "{city} Travels", "{surname} Parking"),
        0.55, 0.5, 120.0, 0.8, 0.06, 0.08),
    Category(
        "travel", "4722", ("rail", "air", "bus_intercity", "hotel", "holiday_package"),
        (B("IRCTC", True), B("MakeMyTrip", True), B("Goibibo", True), B("Cleartrip", True),
         B("EaseMyTrip", True), B("IndiGo", True), B("Air India", True), B("redBus", True), B("OYO", True)),
        ("{surname} Tours & Travels", "{city} Holidays", "Hotel {deity} Residency"),
        0.85, 0.45, 1500.0, 1.0, 0.015, 0.35),
    Category(
        "healthcare", "5912", ("pharmacy", "diagnostics", "clinic", "hospital", "optical"),
        (B("Apollo Pharmacy", False), B("MedPlus", False, 3, ("Telangana", "Andhra Pradesh", "Karnataka",
         "Tamil Nadu", "Maharashtra", "Odisha", "West Bengal")), B("Tata 1mg", True), B("PharmEasy", True),
         B("Netmeds", True), B("Wellness Forever", False, 2, ("Maharashtra", "Gujarat", "Goa"))),
        ("{surname} Medical Stores", "Sri {deity} Pharmacy", "{city} Diagnostics", "Dr. {surname} Clinic"),
        0.15, 0.7, 350.0, 0.9, 0.05, 0.08),
    Category(
        "education", "8299", ("school_fees", "coaching", "online_course", "books"),
        (B("Byju's", True), B("Unacademy", True), B("Physics Wallah", True), B("upGrad", True),
         B("Vedantu", True), B("Allen Career Institute", False, 2), B("Aakash Institute", False, 2)),
        ("{surname} Coaching Classes", "{city} Public School", "Saraswati {surname} Academy"),
        0.6, 0.9, 2000.0, 1.0, 0.01, 0.10),
    Category(
        "entertainment", "7832", ("cinema", "events", "ott_subscription", "amusement"),
        (B("BookMyShow", True), B("PVR INOX", False, 2), B("Cinepolis", False, 2), B("Netflix", True),
         B("JioHotstar", True)),
        ("{city} Talkies", "Sri {deity} Cinemas", "{surname} Gaming Zone"),
        0.6, 0.3, 400.0, 0.8, 0.025, 0.15),
    Category(
        "fashion", "5651", ("apparel", "footwear", "ethnic_wear", "beauty_personal_care", "accessories"),
        (B("Myntra", True), B("Ajio", True), B("Nykaa", True), B("Westside", False, 2),
         B("Pantaloons", False, 2), B("Max Fashion", False, 2), B("Zudio", False), B("Lifestyle", False, 1),
         B("Reliance Trends", False), B("FabIndia", False, 2), B("Bata", False)),
        ("{surname} Cloth Emporium", "{city} Saree Centre", "{first} Fashions", "{surname} Footwear"),
        0.45, 0.4, 800.0, 0.9, 0.04, 0.20),
    Category(
        "electronics", "5732", ("mobile_phones", "appliances", "computers", "accessories"),
        (B("Croma", False, 2), B("Reliance Digital", False), B("Vijay Sales", False, 2, ("Maharashtra",
         "Gujarat", "Delhi")), B("Poorvika", False, 3, ("Tamil Nadu", "Karnataka", "Puducherry")),
         B("Sangeetha Mobiles", False, 3, ("Karnataka", "Tamil Nadu", "Andhra Pradesh", "Telangana")),
         B("Apple Store", False, 1)),
        ("{surname} Electronics", "{city} Mobile World", "Sri {deity} Electricals"),
        0.4, 0.35, 2500.0, 1.1, 0.01, 0.55),
    Category(
        "jewellery", "5944", ("gold", "silver", "diamond", "watches"),
        (B("Tanishq", False, 2), B("Kalyan Jewellers", False, 2), B("Malabar Gold & Diamonds", False, 2),
         B("Joyalukkas", False, 2), B("PC Jeweller", False, 2), B("CaratLane", True),
         B("Senco Gold", False, 3, ("West Bengal", "Odisha", "Jharkhand", "Bihar", "Assam"))),
        ("{surname} Jewellers", "Sri {deity} Gold Palace", "{surname} & Sons Jewellers"),
        0.1, 0.6, 8000.0, 1.0, 0.003, 0.60),
    Category(
        "cash_like", "6540", ("wallet_load", "prepaid_card_load", "forex", "money_transfer"),
        (B("Paytm Wallet", True), B("Amazon Pay Balance", True), B("MobiKwik", True),
         B("Thomas Cook India", False, 1), B("BookMyForex", True)),
        ("{surname} Money Transfer", "{city} Forex Services", "{first} Recharge & Remit"),
        0.9, 0.5, 500.0, 1.0, 0.02, 0.85),
    Category(
        "digital_goods", "5816", ("mobile_games", "in_game_purchase", "app_store"),
        (B("Google Play", True), B("Apple App Store", True), B("Krafton India", True),
         B("Nazara Games", True)),
        ("{surname} Game Store",),
        1.0, 0.6, 99.0, 1.0, 0.02, 0.65),
    Category(
        "insurance", "6300", ("life", "health", "motor"),
        (B("LIC", False), B("HDFC Life", True), B("ICICI Prudential Life", True), B("SBI Life", True),
         B("Star Health", True), B("Policybazaar", True)),
        ("{surname} Insurance Services",),
        0.8, 0.9, 1500.0, 1.0, 0.012, 0.12),
    Category(
        "government_services", "9399", ("property_tax", "transport_rto", "passport", "income_tax", "fees"),
        (B("Parivahan", True), B("Passport Seva", True), B("Income Tax e-Filing", True)),
        ("{city} Municipal Corporation", "{city} Nagar Nigam"),
        0.5, 0.8, 300.0, 1.1, 0.02, 0.05),
)

CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
# Cash at an ATM is no purchase at a merchant, but it has a category and an MCC (ISO 18245 6011,
# automated cash disbursements) like every row with a merchant category.
ATM_CATEGORY, ATM_MCC = "atm_cash_withdrawal", "6011"
_cw = np.array([c.p2m_volume_share for c in CATEGORIES], dtype=np.float64)
CATEGORY_WEIGHTS: npt.NDArray[np.float64] = _cw / _cw.sum()
CATEGORY_WEIGHTS.flags.writeable = False
# What each category's weight in a customer's own mix is multiplied by so that the stream's UPI P2M payments
# come out at p2m_volume_share (personas' affinities, and cards and wallets taking part of some categories,
# move the mix): fitted by `bench/calibrate.py` (seeds 42 and 7).
CATEGORY_CALIBRATION: dict[str, float] = {
    "groceries": 0.959, "food_dining": 0.831, "fuel": 0.956, "ecommerce": 1.0, "utilities": 1.046,
    "telecom": 1.103, "local_transport": 1.143, "travel": 1.027, "healthcare": 1.075, "education": 1.214,
    "entertainment": 1.117, "fashion": 1.034, "electronics": 0.988, "jewellery": 1.591, "cash_like": 1.163,
    "digital_goods": 1.008, "insurance": 1.14, "government_services": 1.465,
}
assert set(CATEGORY_CALIBRATION) == set(CATEGORY_NAMES)

# --- calibration targets ----------------------------------------------------------------------------

# UPI P2M average ticket: INR 643 in 1H 2024 and INR 627 in 2H 2024 (Worldline India Digital Payments
# Reports 1H 2024, 2H 2024); we take the 2024 midpoint. P2P: INR 2,836 (1H 2024) and INR 2,666 (2H 2024).
UPI_P2M_AVG_TICKET_INR = 635.0
UPI_P2P_AVG_TICKET_INR = 2_666.0
# P2M share of UPI volume: 64% by July 2025, from 39% in June 2020 (SBI Research on NPCI data); ~62% over
# FY2024-25 (estimate, interpolated).
P2P_SHARE_OF_UPI = 0.38
# Share of UPI payments declined: 7.4% in August 2025 (NPCI UPI Ecosystem Statistics, "UPI Top 50 Member
# Remitter Performance": approved % per remitter bank, volume-weighted over the 28 largest, 19.8 of the
# month's 20.0 billion payments; business declines, such as insufficient funds or a wrong UPI PIN, ~7%,
# technical declines ~0.4%). Card and other decline rates are not published; they stay the domain notes'
# 2-3%.
UPI_DECLINE_RATE = 0.074

# Share of retail digital-payment transaction count by mode, FY2024-25. UPI is ~84% of retail digital
# payment volume (RBI Payment System Indicators; NPCI: 185.8 billion UPI transactions in FY2024-25).
# Net banking stands for NEFT/IMPS/bank-site payments; card, PPI-wallet and BNPL shares are rounded
# *estimates* from the same RBI indicators (credit cards ~4.7bn, PPI ~6.6bn transactions).
PAYMENT_MODE_SHARES: dict[str, float] = {
    "upi": 0.84, "net_banking": 0.06, "wallet": 0.035, "credit_card": 0.035, "debit_card": 0.02, "bnpl": 0.01,
}
PAYMENT_MODES: tuple[str, ...] = tuple(PAYMENT_MODE_SHARES)
# What each mode's weight in a customer's own mix is multiplied by so that the stream's shares come out at
# PAYMENT_MODE_SHARES (not every customer holds every mode, and a shop takes no net banking or BNPL):
# fitted by `bench/calibrate.py`, which prints these from the default streams of seeds 42 and 7.
MODE_CALIBRATION: dict[str, float] = {
    "upi": 1.0, "debit_card": 0.221, "credit_card": 0.972, "wallet": 1.09, "net_banking": 2.979, "bnpl": 26.338,
}


def p2m_mean_ticket_inr() -> float:
    """Volume-weighted mean P2M ticket implied by the category table: sum of share * median * e^(s^2/2).

    >>> abs(p2m_mean_ticket_inr() / UPI_P2M_AVG_TICKET_INR - 1) < 0.15
    True
    """
    means = [c.amount_median_inr * math.exp(c.amount_sigma**2 / 2) for c in CATEGORIES]
    return float(np.dot(CATEGORY_WEIGHTS, means))


# --- banks, UPI apps, cards ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IssuerBank:
    name: str
    debit_share: float  # share of debit cards outstanding among these issuers
    credit_share: float  # share of credit cards outstanding among these issuers
    vpa_handle: str | None  # the bank's own UPI app handle; None if it offers no UPI


# Cards outstanding, approximately, from RBI bank-wise ATM/POS/card statistics (March 2025): public-sector
# banks dominate debit cards (SBI ~30%), private banks credit cards (HDFC ~21%, SBI Card ~19%, ICICI ~17%,
# Axis ~14%). Normalised over this list, so smaller issuers are folded in. American Express issues
# only its own (Amex network) credit cards. Bank-app handles are the banks' published UPI handles.
ISSUER_BANKS: tuple[IssuerBank, ...] = (  # APPEND-ONLY
    IssuerBank("State Bank of India", 0.30, 0.19, "@sbi"),
    IssuerBank("HDFC Bank", 0.06, 0.21, "@hdfcbank"),
    IssuerBank("ICICI Bank", 0.05, 0.165, "@icici"),
    IssuerBank("Axis Bank", 0.04, 0.14, "@axisbank"),
    IssuerBank("Kotak Mahindra Bank", 0.03, 0.05, "@kotak"),
    IssuerBank("Punjab National Bank", 0.09, 0.01, "@pnb"),
    IssuerBank("Bank of Baroda", 0.09, 0.025, "@barodampay"),
    IssuerBank("Canara Bank", 0.07, 0.01, "@cnrb"),
    IssuerBank("Union Bank of India", 0.07, 0.007, "@unionbank"),
    IssuerBank("IndusInd Bank", 0.015, 0.045, "@indus"),
    IssuerBank("Yes Bank", 0.01, 0.02, "@yesbank"),
    IssuerBank("IDFC First Bank", 0.01, 0.035, "@idfcfirst"),
    IssuerBank("American Express", 0.0, 0.012, None),
)
BANK_NAMES: tuple[str, ...] = tuple(b.name for b in ISSUER_BANKS)


@dataclass(frozen=True, slots=True)
class UpiApp:
    name: str
    share: float  # share of UPI transaction count
    handles: tuple[str, ...]  # empty: the customer's own bank's handle (IssuerBank.vpa_handle)


# NPCI UPI ecosystem statistics, March 2025: PhonePe 47.25%, Google Pay 36.04%, Paytm 6.67% of volume;
# the remaining ~10% split across Navi, super.money, CRED (0.79%), Amazon Pay, BHIM and bank apps
# (*estimate* for those below Paytm).
UPI_APPS: tuple[UpiApp, ...] = (
    UpiApp("PhonePe", 0.4725, ("@ybl", "@ibl", "@axl")),
    UpiApp("Google Pay", 0.3604, ("@okaxis", "@okhdfcbank", "@okicici", "@oksbi")),
    UpiApp("Paytm", 0.0667, ("@paytm", "@ptyes", "@ptaxis", "@pthdfc", "@ptsbi")),
    UpiApp("Navi", 0.025, ("@naviaxis",)),
    UpiApp("super.money", 0.012, ("@superyes",)),
    UpiApp("CRED", 0.008, ("@axisb",)),
    UpiApp("Amazon Pay", 0.006, ("@apl", "@yapl", "@rapl")),
    UpiApp("BHIM", 0.002, ("@upi",)),
    UpiApp("Bank app", 0.0474, ()),
)


def person_handle(app: UpiApp, bank: IssuerBank, u: float) -> str:
    """The handle of a person's VPA, from the app they use (and their bank's, for a bank app); one rule for
    every person: a customer, a customer's payee, a shop owner paid on a personal VPA, a fraudster's account."""
    handles = app.handles or (bank.vpa_handle or "@upi",)
    return handles[int(u * len(handles))]


# (handle, app) for every app handle, in table order.
UPI_HANDLES: tuple[tuple[str, str], ...] = tuple((h, a.name) for a in UPI_APPS for h in a.handles)

CARD_TYPES: tuple[str, ...] = ("debit", "credit")
# Network share of cards by type (*estimate* from RBI/NPCI figures: RuPay carries most debit cards via
# PMJDY accounts; Visa and Mastercard most credit cards, with RuPay credit growing through UPI linking).
CARD_NETWORKS: dict[str, dict[str, float]] = {
    "debit": {"RuPay": 0.60, "Visa": 0.28, "Mastercard": 0.12},
    "credit": {"Visa": 0.45, "Mastercard": 0.33, "RuPay": 0.208, "Amex": 0.012},
}
PAN_LENGTH: dict[str, int] = {"Visa": 16, "Mastercard": 16, "RuPay": 16, "Amex": 15}  # digits of a card number
NETWORK_PREFIXES: dict[str, tuple[str, ...]] = {
    "Visa": ("4",),
    "Mastercard": ("51", "52", "53", "54", "55", "2221", "2720"),  # 51-55 and 2221-2720
    "RuPay": ("60", "65", "81", "82", "508"),
    "Amex": ("34", "37"),
}


def _networks_of(bank: IssuerBank, card_type: str) -> tuple[str, ...]:
    if bank.name == "American Express":
        return ("Amex",) if card_type == "credit" else ()
    return tuple(n for n in CARD_NETWORKS[card_type] if n != "Amex")


def _synthetic_bins() -> dict[tuple[str, str, str], tuple[str, ...]]:
    # Synthetic, deterministic, network-consistent BINs: real network prefixes, made-up issuer digits,
    # two per (bank, network, card type), unique across the table. The Mastercard 2-series only uses
    # 2221xx and 2720xx, which stay inside the 2221-2720 range.
    seen: set[str] = set()
    out: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for code, bank in enumerate(ISSUER_BANKS):
        for t, card_type in enumerate(CARD_TYPES):
            for network in _networks_of(bank, card_type):
                prefixes = NETWORK_PREFIXES[network]
                bins = []
                for j in range(2):
                    prefix = prefixes[(code + 2 * j + t) % len(prefixes)]
                    width = 6 - len(prefix)
                    body = (code * 7919 + t * 104729 + j * 3571 + len(network) * 131 + 4093) % 10**width
                    while f"{prefix}{body:0{width}d}" in seen:
                        body = (body + 1) % 10**width
                    seen.add(f"{prefix}{body:0{width}d}")
                    bins.append(f"{prefix}{body:0{width}d}")
                out[(bank.name, network, card_type)] = tuple(bins)
    return out


CARD_BINS: dict[tuple[str, str, str], tuple[str, ...]] = _synthetic_bins()


def card_product_weights(card_type: str) -> tuple[tuple[tuple[str, str], ...], npt.NDArray[np.float64]]:
    """(bank, network) pairs issuing ``card_type`` and their weights (bank share x network share, norm. 1).

    >>> pairs, w = card_product_weights("credit")
    >>> ("American Express", "Amex") in pairs and round(float(w.sum()), 9)
    1.0
    """
    pairs, weights = [], []
    for bank in ISSUER_BANKS:
        share = bank.debit_share if card_type == "debit" else bank.credit_share
        for network in _networks_of(bank, card_type):
            net_share = CARD_NETWORKS[card_type][network]
            if network != "Amex":  # re-spread the Amex share over the other networks of Amex-less banks
                net_share /= 1.0 - CARD_NETWORKS[card_type].get("Amex", 0.0)
            pairs.append((bank.name, network))
            weights.append(share * (1.0 if network == "Amex" else net_share))
    w = np.asarray(weights, dtype=np.float64)
    return tuple(pairs), w / w.sum()


# PPI wallets and BNPL providers with their share of the mode (*estimate*; no official split published).
WALLET_PROVIDERS: dict[str, float] = {"Paytm Wallet": 0.35, "PhonePe Wallet": 0.25, "Amazon Pay": 0.25,
                                      "MobiKwik": 0.15}
BNPL_PROVIDERS: dict[str, float] = {"Simpl": 0.30, "LazyPay": 0.25, "Amazon Pay Later": 0.25,
                                    "Flipkart Pay Later": 0.20}

# --- declines ---------------------------------------------------------------------------------------

APPROVED_RESPONSE_CODE = "00"  # ISO 8583 "approved" and NPCI UPI "success"


# Where a payment is declined decides what can go wrong: a PIN exists only at a terminal (a POS chip/swipe
# read or an ATM), a card number is typed only card-not-present, a card can expire but an account cannot,
# and only a collect request can expire or be refused by the payer.
DECLINE_CONTEXTS: tuple[str, ...] = ("card_present", "card_not_present", "atm", "account", "upi", "upi_collect")
_CARD = frozenset(("card_present", "card_not_present", "atm"))
_CARD_AND_ACCOUNT = _CARD | {"account"}
_UPI = frozenset(("upi", "upi_collect"))


@dataclass(frozen=True, slots=True)
class DeclineReason:
    reason: str
    response_code: str
    weight: float  # relative frequency among the declines of the contexts it occurs in (*estimate*)
    contexts: frozenset[str]  # of DECLINE_CONTEXTS; card and account codes are ISO 8583, UPI's NPCI's


DECLINE_REASONS: tuple[DeclineReason, ...] = (
    DeclineReason("insufficient_funds", "51", 0.30, _CARD_AND_ACCOUNT),
    DeclineReason("do_not_honour", "05", 0.18, _CARD_AND_ACCOUNT),
    DeclineReason("incorrect_pin", "55", 0.15, frozenset(("card_present", "atm"))),
    DeclineReason("issuer_unavailable", "91", 0.10, _CARD_AND_ACCOUNT),
    DeclineReason("exceeds_withdrawal_limit", "61", 0.08, _CARD_AND_ACCOUNT),
    DeclineReason("transaction_not_permitted", "57", 0.07, _CARD_AND_ACCOUNT),
    DeclineReason("expired_card", "54", 0.05, _CARD),
    DeclineReason("invalid_card_number", "14", 0.04, frozenset(("card_not_present",))),
    DeclineReason("exceeds_frequency_limit", "65", 0.03, _CARD_AND_ACCOUNT),
    DeclineReason("insufficient_funds", "Z9", 0.34, _UPI),
    DeclineReason("invalid_mpin", "ZM", 0.20, _UPI),
    DeclineReason("debit_failed", "U30", 0.12, _UPI),
    DeclineReason("per_txn_limit_exceeded", "Z8", 0.08, _UPI),
    DeclineReason("remitter_cbs_offline", "XY", 0.07, _UPI),
    DeclineReason("risk_threshold_exceeded", "U16", 0.06, _UPI),
    DeclineReason("frequency_limit_exceeded", "Z7", 0.05, _UPI),
    DeclineReason("collect_request_expired", "U69", 0.05, frozenset(("upi_collect",))),
    DeclineReason("declined_by_customer", "ZA", 0.03, frozenset(("upi_collect",))),
)


def decline_contexts(card: npt.NDArray[np.bool_], online: npt.NDArray[np.bool_], cash: npt.NDArray[np.bool_],
                     upi: npt.NDArray[np.bool_], collect: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The index in DECLINE_CONTEXTS of each payment: a card's at an ATM, online or at a terminal; UPI's
    as a collect request or not; every other mode's (net banking, wallet, BNPL) an account's.

    >>> y, n = np.array([True]), np.array([False])
    >>> [DECLINE_CONTEXTS[int(decline_contexts(*f)[0])] for f in ((y, y, n, n, n), (n, n, n, y, y), (n, y, n, n, n))]
    ['card_not_present', 'upi_collect', 'account']
    """
    return np.select([card & cash, card & online, card, upi & collect, upi], [2, 1, 0, 5, 4], 3).astype(np.int64)


def decline_reasons_in(context: str) -> tuple[DeclineReason, ...]:
    """The decline reasons that can occur in `context` (one of DECLINE_CONTEXTS)."""
    return tuple(r for r in DECLINE_REASONS if context in r.contexts)
