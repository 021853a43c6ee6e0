"""Merchant categories and brands: what people buy, the category mix of UPI P2M payments, and the tickets.

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


def p2m_mean_ticket_inr() -> float:
    """Volume-weighted mean P2M ticket implied by the category table: sum of share * median * e^(s^2/2).

    >>> abs(p2m_mean_ticket_inr() / UPI_P2M_AVG_TICKET_INR - 1) < 0.15
    True
    """
    means = [c.amount_median_inr * math.exp(c.amount_sigma**2 / 2) for c in CATEGORIES]
    return float(np.dot(CATEGORY_WEIGHTS, means))
