"""Customer segments (personas), income brackets, and the Indian name tables used to name customers.

A persona fixes the ranges a customer is drawn from (age, typical ticket, monthly transaction count,
income bracket, occupation) and multipliers on the population-wide category and payment-mode mixes.
Names are ``f"{first} {surname}"`` with both parts from the customer's home region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synfinance.producers.world.calendar import OCCUPATIONS
from synfinance.producers.world.categories import CATEGORY_NAMES
from synfinance.producers.world.geography import REGIONS
from synfinance.producers.world.payment_rails import PAYMENT_MODE_SHARES

# Monthly income brackets, INR: [low, high).
INCOME_BRACKETS_INR: tuple[tuple[int, int], ...] = (
    (10_000, 25_000), (25_000, 50_000), (50_000, 100_000), (100_000, 200_000), (200_000, 400_000),
    (400_000, 1_000_000),
)


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    weight: float  # share of customers
    age_min: int
    age_max: int
    ticket_min_inr: float
    ticket_max_inr: float
    txns_per_month_min: int
    txns_per_month_max: int
    income_bracket_weights: tuple[float, ...]  # over INCOME_BRACKETS_INR
    occupation_weights: dict[str, float]  # over calendar.OCCUPATIONS
    category_affinity: dict[str, float]  # multiplier on CATEGORY_WEIGHTS by category name; missing = 1
    payment_mode_affinity: dict[str, float]  # multiplier on PAYMENT_MODE_SHARES; missing = 1
    travel_propensity: float  # share of the customer's transactions made on trips (away from home/nearby)
    digital_familiarity: float  # 0-1; low values raise decline and fraud-victim odds


# Segment weights, ages, tickets and monthly counts from the SynFinance domain notes (tech_savvy was
# "tech-savvy millennial"). small_business (named in SPEC section 3) is added at 0.06, so the raw weights
# sum to 1.06; every weight is divided by that sum (``weight`` holds the re-normalised value).
_RAW: tuple[tuple[str, float, int, int, float, float, int, int], ...] = (
    ("young_professional", 0.20, 25, 35, 500, 3000, 40, 80),
    ("family", 0.25, 35, 50, 800, 2500, 50, 100),
    ("budget_conscious", 0.20, 22, 60, 200, 800, 30, 60),
    ("tech_savvy", 0.15, 20, 32, 400, 2500, 60, 120),
    ("affluent", 0.08, 30, 55, 2000, 8000, 50, 90),
    ("senior", 0.07, 55, 75, 500, 2000, 20, 40),
    ("student", 0.05, 18, 25, 150, 600, 40, 80),
    ("small_business", 0.06, 28, 60, 500, 5000, 60, 150),
)
_RAW_TOTAL = sum(r[1] for r in _RAW)

# name -> (income_bracket_weights, occupation_weights, category_affinity, payment_mode_affinity,
#          travel_propensity, digital_familiarity)
_Detail = tuple[tuple[float, ...], dict[str, float], dict[str, float], dict[str, float], float, float]
_DETAIL: dict[str, _Detail] = {
    "young_professional": (
        (0.05, 0.30, 0.40, 0.20, 0.05, 0.0),
        {"salaried": 0.55, "professional": 0.25, "freelancer": 0.12, "government_employee": 0.05,
         "business_owner": 0.03},
        {"food_dining": 1.4, "local_transport": 1.4, "entertainment": 1.3, "ecommerce": 1.3, "fashion": 1.2,
         "travel": 1.3, "groceries": 0.8, "education": 0.5},
        {"credit_card": 1.5, "bnpl": 1.5, "wallet": 1.1},
        0.07, 0.85),
    "family": (
        (0.05, 0.25, 0.40, 0.22, 0.07, 0.01),
        {"salaried": 0.40, "government_employee": 0.15, "business_owner": 0.15, "homemaker": 0.20,
         "professional": 0.10},
        {"groceries": 1.3, "education": 2.0, "utilities": 1.3, "healthcare": 1.3, "insurance": 1.4,
         "local_transport": 0.8, "digital_goods": 0.5},
        {"debit_card": 1.3, "net_banking": 1.3},
        0.05, 0.65),
    "budget_conscious": (
        (0.45, 0.45, 0.10, 0.0, 0.0, 0.0),
        {"salaried": 0.45, "homemaker": 0.20, "freelancer": 0.15, "business_owner": 0.10, "retired": 0.05,
         "student": 0.05},
        {"groceries": 1.4, "telecom": 1.3, "fuel": 1.1, "travel": 0.4, "electronics": 0.5, "jewellery": 0.3,
         "entertainment": 0.6},
        {"upi": 1.05, "credit_card": 0.3, "bnpl": 0.5, "net_banking": 0.6},
        0.02, 0.5),
    "tech_savvy": (
        (0.05, 0.25, 0.40, 0.25, 0.05, 0.0),
        {"salaried": 0.50, "freelancer": 0.20, "professional": 0.15, "student": 0.10, "business_owner": 0.05},
        {"ecommerce": 1.6, "food_dining": 1.3, "digital_goods": 2.0, "electronics": 1.5, "entertainment": 1.4,
         "local_transport": 1.3, "groceries": 0.8},
        {"wallet": 1.4, "bnpl": 2.0, "credit_card": 1.3},
        0.06, 0.95),
    "affluent": (
        (0.0, 0.0, 0.05, 0.35, 0.40, 0.20),
        {"business_owner": 0.35, "professional": 0.35, "salaried": 0.25, "government_employee": 0.05},
        {"travel": 2.0, "jewellery": 2.5, "electronics": 1.5, "fashion": 1.4, "food_dining": 1.3,
         "insurance": 1.5, "groceries": 0.7},
        {"credit_card": 3.0, "net_banking": 1.3, "upi": 0.9},
        0.12, 0.75),
    "senior": (
        (0.20, 0.35, 0.30, 0.12, 0.03, 0.0),
        {"retired": 0.75, "business_owner": 0.10, "homemaker": 0.10, "professional": 0.05},
        {"healthcare": 2.5, "utilities": 1.4, "groceries": 1.2, "insurance": 1.5, "digital_goods": 0.1,
         "entertainment": 0.5, "local_transport": 0.7},
        {"debit_card": 1.8, "net_banking": 1.5, "upi": 0.9, "bnpl": 0.1, "wallet": 0.5},
        0.03, 0.35),
    "student": (
        (0.85, 0.15, 0.0, 0.0, 0.0, 0.0),
        {"student": 0.92, "freelancer": 0.08},
        {"food_dining": 1.5, "digital_goods": 2.5, "education": 2.0, "entertainment": 1.5,
         "local_transport": 1.3, "telecom": 1.3, "insurance": 0.1, "jewellery": 0.1},
        {"wallet": 1.5, "credit_card": 0.2, "net_banking": 0.4, "bnpl": 1.2},
        0.04, 0.85),
    "small_business": (
        (0.05, 0.25, 0.35, 0.25, 0.08, 0.02),
        {"business_owner": 0.85, "freelancer": 0.10, "professional": 0.05},
        {"groceries": 1.2, "fuel": 1.5, "telecom": 1.2, "utilities": 1.4, "electronics": 1.3, "travel": 1.2,
         "cash_like": 1.6, "government_services": 1.5},
        {"net_banking": 1.8, "credit_card": 1.5},
        0.08, 0.6),
}

PERSONAS: tuple[Persona, ...] = tuple(  # APPEND-ONLY: index = persona code
    Persona(name, w / _RAW_TOTAL, a0, a1, t0, t1, n0, n1, *_DETAIL[name])
    for name, w, a0, a1, t0, t1, n0, n1 in _RAW
)
PERSONA_NAMES: tuple[str, ...] = tuple(p.name for p in PERSONAS)
PERSONA_WEIGHTS: npt.NDArray[np.float64] = np.array([p.weight for p in PERSONAS], dtype=np.float64)
PERSONA_WEIGHTS.flags.writeable = False


def _check() -> None:
    # Import-time guard: a typo in a category, mode or occupation key would silently be a multiplier of 1.
    for p in PERSONAS:
        assert len(p.income_bracket_weights) == len(INCOME_BRACKETS_INR), p.name
        assert set(p.occupation_weights) <= set(OCCUPATIONS), p.name
        assert set(p.category_affinity) <= set(CATEGORY_NAMES), p.name
        assert set(p.payment_mode_affinity) <= set(PAYMENT_MODE_SHARES), p.name


_check()

# --- names -------------------------------------------------------------------------------------------
# Common given names and surnames by home region (REGIONS). Used as f"{first} {surname}".

FIRST_NAMES_MALE: dict[str, tuple[str, ...]] = {
    "North": ("Rahul", "Amit", "Rohit", "Vikram", "Arjun", "Sandeep", "Manish", "Gaurav", "Harpreet",
              "Karan"),
    "South": ("Karthik", "Venkatesh", "Suresh", "Arun", "Pradeep", "Srinivas", "Rajesh", "Vignesh", "Anand",
              "Naveen"),
    "East": ("Sourav", "Arindam", "Debashis", "Subhajit", "Abhishek", "Rajib", "Prasenjit", "Biswajit",
             "Sanjay", "Ritesh"),
    "West": ("Rohan", "Aditya", "Nikhil", "Siddharth", "Hardik", "Parth", "Omkar", "Chirag", "Mihir", "Yash"),
    "Central": ("Ankit", "Deepak", "Ravi", "Ashish", "Vivek", "Saurabh", "Alok", "Pankaj"),
    "Northeast": ("Pranjal", "Bhaskar", "Dhruba", "Hemanta", "Tenzing", "Lalrinawma", "Tomba", "Bikash"),
}
FIRST_NAMES_FEMALE: dict[str, tuple[str, ...]] = {
    "North": ("Priya", "Neha", "Pooja", "Anjali", "Simran", "Ritu", "Kavita", "Shalini", "Jyoti", "Mansi"),
    "South": ("Lakshmi", "Divya", "Kavya", "Meenakshi", "Anitha", "Deepa", "Revathi", "Swathi", "Sowmya",
              "Aishwarya"),
    "East": ("Sneha", "Moumita", "Ananya", "Rupa", "Sreya", "Payel", "Madhumita", "Ipsita", "Tanushree",
             "Puja"),
    "West": ("Riya", "Shruti", "Aarti", "Komal", "Pallavi", "Manisha", "Hetal", "Prachi", "Sayali", "Nisha"),
    "Central": ("Shweta", "Sakshi", "Rashmi", "Nidhi", "Swati", "Preeti", "Archana", "Vandana"),
    "Northeast": ("Nilakshi", "Barnali", "Jonali", "Dikshita", "Lalrinpuii", "Sangeeta", "Pema", "Chandana"),
}
SURNAMES: dict[str, tuple[str, ...]] = {
    "North": ("Sharma", "Verma", "Gupta", "Singh", "Chauhan", "Malhotra", "Kapoor", "Yadav", "Saxena",
              "Agarwal", "Bhatia", "Gill"),
    "South": ("Iyer", "Nair", "Reddy", "Rao", "Pillai", "Menon", "Naidu", "Krishnan", "Subramanian", "Hegde",
              "Gowda", "Shetty"),
    "East": ("Banerjee", "Chatterjee", "Mukherjee", "Das", "Ghosh", "Bose", "Sen", "Mohanty", "Mishra",
             "Sinha", "Jha", "Patnaik"),
    "West": ("Patil", "Deshmukh", "Joshi", "Kulkarni", "Patel", "Shah", "Mehta", "Desai", "Pawar", "Jadhav",
             "Gaikwad", "Thakkar"),
    "Central": ("Tiwari", "Dubey", "Shukla", "Pandey", "Chouhan", "Thakur", "Soni", "Jain", "Tripathi",
                "Rajput"),
    "Northeast": ("Baruah", "Bora", "Gogoi", "Saikia", "Kalita", "Hazarika", "Lyngdoh", "Sangma", "Debbarma",
                  "Bhutia", "Ningthoujam", "Konyak"),
}
# Share of women among the people named here (customers, their payees, shop owners): Census 2011, 48.5%.
FEMALE_SHARE = 0.48
assert set(FIRST_NAMES_MALE) == set(FIRST_NAMES_FEMALE) == set(SURNAMES) == set(REGIONS)
