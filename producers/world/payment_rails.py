"""The Indian payment rails: payment modes and their shares, issuer banks, UPI apps, cards, wallets, BNPL.

Tables and small pure functions only. Calibration figures carry their source next to them; a figure
marked *estimate* is our reading of public reports, not a published number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# --- calibration targets ----------------------------------------------------------------------------

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
