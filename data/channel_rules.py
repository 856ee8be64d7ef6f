"""Which channel an event's traffic came from, when the client sends UTM tags and a referrer instead of a
channel. The rules follow GA4's default channel grouping, in its order (the first rule that matches wins),
mapped onto Pulse's channels. README.md ("Channel rules") shows them as a table; tests/unit/test_ingest.py
checks each row of it.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

SEARCH_SITES = ("google", "bing", "baidu", "yahoo", "duckduckgo", "yandex", "naver", "sogou", "ecosia", "so")
SOCIAL_SITES = ("facebook", "fb", "instagram", "tiktok", "douyin", "twitter", "x", "t", "linkedin", "lnkd",
                "pinterest", "reddit", "weibo", "wechat", "xiaohongshu", "snapchat", "threads", "vk")
VIDEO_SITES = ("youtube", "youtu", "vimeo", "bilibili", "youku", "twitch", "dailymotion")

PAID_MEDIUM = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
DISPLAY_MEDIUM = {"display", "banner", "expandable", "interstitial", "cpm"}
SOCIAL_MEDIUM = {"social", "social-network", "social-media", "sm", "social network", "social media"}
EMAIL_WORDS = {"email", "e-mail", "e_mail", "e mail", "newsletter"}
REFERRAL_MEDIUM = {"referral", "app", "link"}

UNASSIGNED = "unassigned"


def site_kind(source: str) -> str | None:
    """'search', 'social' or 'video' when a source name or a referrer host names such a site."""
    labels = set(re.split(r"[.\s]+", source.lower().removeprefix("www.")))
    for kind, sites in (("search", SEARCH_SITES), ("social", SOCIAL_SITES), ("video", VIDEO_SITES)):
        if labels & set(sites):
            return kind
    return None


def referrer_host(referrer: str | None) -> str:
    if not referrer:
        return ""
    return (urlsplit(referrer if "//" in referrer else "//" + referrer).hostname or "").lower()


def derive_channel(utm_source: str | None, utm_medium: str | None, referrer: str | None) -> str:
    source = (utm_source or "").strip().lower()
    medium = (utm_medium or "").strip().lower()
    host = referrer_host(referrer)
    if not source and not medium:
        if not host:
            return "direct"
        return {"search": "organic_search", "social": "organic_social", "video": "organic_social"}.get(
            site_kind(host), "referral")
    kind = site_kind(source) if source else site_kind(host) if host else None
    paid = bool(PAID_MEDIUM.match(medium))
    if kind == "search" and paid:
        return "paid_search"
    if kind == "social" and paid:
        return "paid_social"
    if kind == "video" and paid:
        return "video"
    if medium in DISPLAY_MEDIUM:
        return "display"
    if medium == "affiliate":
        return "affiliate"
    if source in EMAIL_WORDS or medium in EMAIL_WORDS:
        return "email"
    if kind == "search" or medium == "organic":
        return "organic_search"
    if kind in ("social", "video") or medium in SOCIAL_MEDIUM or "video" in medium:
        return "organic_social"
    if medium in REFERRAL_MEDIUM or (host and not medium):
        return "referral"
    return UNASSIGNED  # GA4's "Paid Other" and "Unassigned" alike: nothing says where the visit came from
