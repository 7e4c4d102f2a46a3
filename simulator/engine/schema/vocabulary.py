"""Vocabulary: the words that make generated values plausible.

Where a schema's constraints leave room, a property's name flavours its value: "city"
is a real city (the one the user's message names, if any), "query" quotes the user's
message, "price" falls between 5 and 500. The word lists, the places and people, and
the strings made for JSON Schema formats live here; a `Vocabulary` holds what one
generation has chosen.
"""

from __future__ import annotations

import re
import string
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from random import Random


@dataclass(frozen=True, slots=True)
class Place:
    city: str
    location: str
    country: str
    country_code: str
    timezone: str
    latitude: float
    longitude: float


PLACES = (
    Place("San Francisco", "San Francisco, CA", "United States", "US", "America/Los_Angeles", 37.7749, -122.4194),
    Place("Paris", "Paris, France", "France", "FR", "Europe/Paris", 48.8566, 2.3522),
    Place("Tokyo", "Tokyo, Japan", "Japan", "JP", "Asia/Tokyo", 35.6762, 139.6503),
    Place("London", "London, UK", "United Kingdom", "GB", "Europe/London", 51.5074, -0.1278),
    Place("New York", "New York, NY", "United States", "US", "America/New_York", 40.7128, -74.006),
    Place("Berlin", "Berlin, Germany", "Germany", "DE", "Europe/Berlin", 52.52, 13.405),
    Place("Sydney", "Sydney, Australia", "Australia", "AU", "Australia/Sydney", -33.8688, 151.2093),
    Place("Toronto", "Toronto, Canada", "Canada", "CA", "America/Toronto", 43.6532, -79.3832),
    Place("Madrid", "Madrid, Spain", "Spain", "ES", "Europe/Madrid", 40.4168, -3.7038),
    Place("Mumbai", "Mumbai, India", "India", "IN", "Asia/Kolkata", 19.076, 72.8777),
    Place("São Paulo", "São Paulo, Brazil", "Brazil", "BR", "America/Sao_Paulo", -23.5505, -46.6333),
    Place("Seoul", "Seoul, South Korea", "South Korea", "KR", "Asia/Seoul", 37.5665, 126.978),
    Place("Amsterdam", "Amsterdam, Netherlands", "Netherlands", "NL", "Europe/Amsterdam", 52.3676, 4.9041),
    Place("Mexico City", "Mexico City, Mexico", "Mexico", "MX", "America/Mexico_City", 19.4326, -99.1332),
    Place("Singapore", "Singapore", "Singapore", "SG", "Asia/Singapore", 1.3521, 103.8198),
    Place("Cairo", "Cairo, Egypt", "Egypt", "EG", "Africa/Cairo", 30.0444, 31.2357),
)
FIRST_NAMES = ("Alice", "Ben", "Chloé", "David", "Emma", "Hiro", "Maria", "Noah", "Priya", "Sam", "Lena", "Omar")
LAST_NAMES = ("Martin", "Nguyen", "Smith", "García", "Müller", "Tanaka", "Dubois", "Patel", "Kim", "Rossi")
_SENTENCES = (
    "Please review the attached report before the meeting.",
    "The package arrived on time and in good condition.",
    "Let's move the call to later this afternoon.",
    "Thanks for the quick reply, that works for me.",
    "The results look promising but need another check.",
    "Remember to bring the signed forms tomorrow.",
)
_TITLES = ("Quarterly planning review", "Team sync", "Project kickoff", "Weekly update", "Budget check-in")
_QUERIES = ("latest news", "best coffee near me", "weather this weekend", "how to reset a password")
_WORDS = ("alpha", "bravo", "river", "summit", "garden", "signal", "harbor", "meadow", "orbit", "maple")
_STREETS = ("221B Baker Street", "10 Downing Street", "1600 Amphitheatre Parkway", "350 Fifth Avenue")
_COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries")
_COLORS = ("blue", "green", "red", "orange", "purple", "teal")
_FILES = ("report.pdf", "notes.txt", "photo.jpg", "data.csv", "slides.pptx")
# Fixed dates, not today's: a seeded request must give the same answer next year.
_BASE_DATE = date(2025, 1, 1)
_DATE_SPAN_DAYS = 730
# A query quoted from the user's message stops at a word boundary before this length.
_QUERY_CHARS = 80


# Where camelCase words meet: "getWeather" -> get|Weather, "HTTPServer" -> HTTP|Server.
# Lookarounds test a fixed width at each position, so the scan is linear; the greedy
# "([A-Z]+)([A-Z][a-z])" it replaces backtracked quadratically on a long run of capitals.
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]+")


def name_words(name: str) -> tuple[str, ...]:
    """A name's lower-case words: split on _, -, spaces, punctuation and camelCase."""
    return tuple(word for word in _NOT_ALNUM.split(_CAMEL_BOUNDARY.sub("_", name).lower()) if word)


def singular(word: str) -> str:
    """An array's item name from the array's: "cities" -> "city", "addresses" -> "address"."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        return word[:-1]
    return word


def phrase(text: str, limit: int = _QUERY_CHARS) -> str:
    """Text on one line, cut at a word boundary to at most `limit` characters."""
    # Only the start can end up in the phrase: a long prompt is not split whole.
    text = " ".join(text[: limit * 8].split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return text[: cut if cut > 0 else limit].rstrip(" ,;:")


class Vocabulary:
    """The words of one generation: its Random, the user's message, and the place and
    person its values speak of (chosen on first use, so that city, country and timezone
    agree within a value)."""

    __slots__ = ("_person", "_place", "context", "rng")

    def __init__(self, rng: Random, context: str) -> None:
        self.rng = rng
        self.context = context
        self._place: Place | None = None
        self._person: tuple[str, str] | None = None

    def string_for(self, words: tuple[str, ...]) -> str | None:
        """A string a property named with these words plausibly holds (None: the name says nothing)."""
        for key in _lookup_order(words):
            make = _STRING_HINTS.get(key)
            if make is not None:
                return make(self, words)
        return None

    def formatted(self, fmt: str | None, words: tuple[str, ...]) -> str | None:
        """A string in a JSON Schema format (None: not a format we make)."""
        make = _FORMATS.get(fmt)
        return None if make is None else make(self, words)

    def number_hint(self, words: tuple[str, ...]) -> tuple[float, float, int] | None:
        """The range a number named like this usually falls in, and its decimal places."""
        for word in _lookup_order(words):
            if word in ("latitude", "lat"):
                return self.place.latitude, self.place.latitude, 4
            if word in ("longitude", "lon", "lng", "long"):
                return self.place.longitude, self.place.longitude, 4
            if word in _NUMBER_HINTS:
                return _NUMBER_HINTS[word]
        return None

    def anything(self, words: tuple[str, ...]) -> str:
        """A value for a schema that allows any: a string, flavoured by the name if possible."""
        return self.string_for(words) or self.word()

    def word(self) -> str:
        """A word from the word list."""
        return self.rng.choice(_WORDS)

    @property
    def place(self) -> Place:
        """The place this generation speaks of: the first city the user's message names, else any."""
        if self._place is None:
            mentioned = [p for p in PLACES if re.search(rf"\b{re.escape(p.city)}\b", self.context, re.IGNORECASE)]
            self._place = mentioned[0] if mentioned else self.rng.choice(PLACES)
        return self._place

    @property
    def person(self) -> tuple[str, str]:
        """The (first name, last name) this generation speaks of."""
        if self._person is None:
            self._person = (self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES))
        return self._person

    def query(self) -> str:
        """What the user asked (their message as a phrase), else a common search."""
        return self.context or self.rng.choice(_QUERIES)

    def identifier(self, words: tuple[str, ...]) -> str:
        """An id: "user_k3x9a0qz" for "user_id", a bare code for "id"."""
        code = "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=8))
        return f"{words[0]}_{code}" if len(words) > 1 else code

    def email(self) -> str:
        """The person's e-mail address, at example.com."""
        first, last = self.person
        return f"{_ascii(first)}.{_ascii(last)}@example.com".lower()

    def uri(self, words: tuple[str, ...]) -> str:
        """An https URL on an example domain."""
        host = self.rng.choice(("www.example.com", "docs.example.org", "example.net"))
        return f"https://{host}/{self.rng.choice(_WORDS)}"

    def date(self) -> str:
        """An ISO date in 2025 or 2026."""
        return (_BASE_DATE + timedelta(days=self.rng.randrange(_DATE_SPAN_DAYS))).isoformat()

    def date_time(self) -> str:
        """An RFC 3339 date-time in office hours, UTC."""
        minutes = self.rng.randrange(8 * 4, 20 * 4) * 15  # office hours, on the quarter
        return f"{self.date()}T{minutes // 60:02d}:{minutes % 60:02d}:00Z"

    def clock(self) -> str:
        """A time of day in office hours, "HH:MM"."""
        minutes = self.rng.randrange(8 * 4, 20 * 4) * 15
        return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _ascii(text: str) -> str:
    """ "Chloé" -> "Chloe": names made fit for e-mail addresses and user names."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _lookup_order(words: tuple[str, ...]) -> list[str]:
    """Keys to look a name up by: the whole name, its last two words, then each word from the end."""
    if not words:
        return []
    keys = ["_".join(words)]
    if len(words) > 2:
        keys.append("_".join(words[-2:]))
    keys.extend(reversed(words))
    if len(words) > 1 and words[-1] == "at":  # created_at, updated_at
        keys.insert(1, "timestamp")
    return keys


# name -> (low, high, decimal places): where a number with this name usually falls.
_NUMBER_HINTS: dict[str, tuple[float, float, int]] = {
    **dict.fromkeys(("limit", "count", "max_results", "num_results", "top_k", "page_size", "size", "n"), (1, 10, 0)),
    **dict.fromkeys(("results", "max", "k", "number"), (1, 10, 0)),
    **dict.fromkeys(("quantity", "qty", "guests", "people", "adults", "passengers", "nights"), (1, 5, 0)),
    **dict.fromkeys(("days", "weeks", "hours"), (1, 7, 0)),
    **dict.fromkeys(("price", "amount", "cost", "total", "budget", "balance", "subtotal", "salary"), (5, 500, 2)),
    **dict.fromkeys(("temperature", "temp"), (-5, 35, 1)),
    **dict.fromkeys(("rating", "stars"), (1, 5, 1)),
    **dict.fromkeys(("percent", "percentage", "discount"), (0, 100, 1)),
    **dict.fromkeys(("confidence", "probability", "score", "threshold", "ratio"), (0, 1, 2)),
    **dict.fromkeys(("radius", "distance", "miles", "km"), (1, 50, 1)),
    **dict.fromkeys(("timeout", "seconds", "minutes", "duration"), (5, 60, 0)),
    "age": (18, 80, 0),
    "year": (2020, 2026, 0),
    "month": (1, 12, 0),
    "day": (1, 28, 0),
    "page": (1, 5, 0),
    "offset": (0, 50, 0),
    "id": (1, 99_999, 0),
    "weight": (0.5, 80, 1),
    "height": (150, 195, 0),
    "port": (1024, 9999, 0),
}


# How a string is made from the vocabulary and the name's words.
_Make = Callable[[Vocabulary, tuple[str, ...]], str]


def _person(part: int) -> _Make:
    return lambda v, w: v.person[part]


def _one_of(options: tuple[str, ...]) -> _Make:
    return lambda v, w: v.rng.choice(options)


def _fixed(text: str) -> _Make:
    return lambda v, w: text


# Words before "name" that make it a person's name ("customer_name"); "product_name" is not one.
_PEOPLE = frozenset({"user", "customer", "contact", "full", "display", "author", "person", "owner", "sender"})
_PEOPLE |= {"recipient", "employee", "patient", "student", "guest", "passenger", "attendee", "client", "my", "your"}


def _name(v: Vocabulary, w: tuple[str, ...]) -> str:
    if len(w) < 2 or w[-1] != "name" or w[-2] in _PEOPLE:
        return " ".join(v.person)
    return f"{' '.join(w[:-1]).title()} {v.rng.choice(_WORDS).title()}"


def _phone(v: Vocabulary, w: tuple[str, ...]) -> str:
    return f"+1-555-01{v.rng.randrange(100):02d}"  # 555-0100..0199: reserved for fiction


_STRING_HINTS: dict[str, _Make] = {
    **dict.fromkeys(("city", "city_name", "town", "destination", "origin"), lambda v, w: v.place.city),
    **dict.fromkeys(("location", "place", "where"), lambda v, w: v.place.location),
    **dict.fromkeys(("country", "country_name"), lambda v, w: v.place.country),
    **dict.fromkeys(("country_code", "region_code"), lambda v, w: v.place.country_code),
    **dict.fromkeys(("timezone", "time_zone", "tz"), lambda v, w: v.place.timezone),
    **dict.fromkeys(
        ("query", "q", "search", "search_query", "search_term", "term", "question"), lambda v, w: v.query()
    ),
    **dict.fromkeys(("prompt", "keywords", "keyword", "topic", "input"), lambda v, w: v.query()),
    **dict.fromkeys(("email", "mail", "e_mail", "email_address"), lambda v, w: v.email()),
    **dict.fromkeys(("url", "uri", "link", "website", "homepage", "href", "endpoint"), lambda v, w: v.uri(w)),
    **dict.fromkeys(("hostname", "host", "domain"), _one_of(("api.example.com", "www.example.org"))),
    **dict.fromkeys(("ip", "ip_address", "ipv4"), lambda v, w: f"192.0.2.{v.rng.randint(1, 254)}"),
    **dict.fromkeys(("id", "uuid", "guid", "key", "ref", "reference"), lambda v, w: v.identifier(w)),
    **dict.fromkeys(("date", "day", "birthday", "deadline", "due", "dob"), lambda v, w: v.date()),
    **dict.fromkeys(("datetime", "date_time", "timestamp", "when", "start", "end"), lambda v, w: v.date_time()),
    "time": lambda v, w: v.clock(),
    **dict.fromkeys(("unit", "units", "temperature_unit"), _fixed("celsius")),
    **dict.fromkeys(("language", "lang"), _one_of(("English", "French", "Spanish", "German", "Japanese"))),
    **dict.fromkeys(("language_code", "lang_code", "locale"), _one_of(("en", "fr", "es", "de", "ja"))),
    **dict.fromkeys(("currency", "currency_code"), _fixed("USD")),
    **dict.fromkeys(("phone", "phone_number", "mobile", "telephone", "tel"), _phone),
    **dict.fromkeys(("address", "street", "street_address", "home_address"), _one_of(_STREETS)),
    **dict.fromkeys(
        ("zip", "zip_code", "zipcode", "postal_code", "postcode"), lambda v, w: f"{v.rng.randint(10000, 99999)}"
    ),
    **dict.fromkeys(("first_name", "firstname", "given_name", "first"), _person(0)),
    **dict.fromkeys(("last_name", "lastname", "surname", "family_name", "last"), _person(1)),
    **dict.fromkeys(("name", "fullname", "contact", "customer", "author"), _name),
    **dict.fromkeys(("recipient", "assignee", "attendee", "organizer", "owner"), lambda v, w: " ".join(v.person)),
    **dict.fromkeys(
        ("username", "user_name", "handle", "login", "user"), lambda v, w: _ascii(v.person[0]).lower() + "42"
    ),
    **dict.fromkeys(
        ("description", "text", "message", "content", "body", "comment", "note", "notes"), _one_of(_SENTENCES)
    ),
    **dict.fromkeys(("summary", "reason", "instructions", "details", "bio", "feedback"), _one_of(_SENTENCES)),
    **dict.fromkeys(("title", "subject", "headline", "event", "event_name"), _one_of(_TITLES)),
    **dict.fromkeys(
        ("company", "company_name", "organization", "organisation", "org", "employer"), _one_of(_COMPANIES)
    ),
    **dict.fromkeys(("color", "colour"), _one_of(_COLORS)),
    **dict.fromkeys(("file", "filename", "file_name", "attachment"), _one_of(_FILES)),
    **dict.fromkeys(("path", "file_path", "filepath"), lambda v, w: f"/home/user/documents/{v.rng.choice(_FILES)}"),
    **dict.fromkeys(("tag", "label", "category"), _one_of(("work", "personal", "urgent", "travel", "finance"))),
    "status": _one_of(("active", "pending", "completed")),
    "state": _one_of(("CA", "NY", "TX", "WA")),
    **dict.fromkeys(("symbol", "ticker", "stock"), _one_of(("AAPL", "MSFT", "GOOGL", "AMZN"))),
    "version": lambda v, w: f"{v.rng.randint(1, 3)}.{v.rng.randint(0, 9)}.{v.rng.randint(0, 9)}",
}

_FORMATS: dict[str, _Make] = {
    "date": lambda v, w: v.date(),
    "date-time": lambda v, w: v.date_time(),
    "time": lambda v, w: v.clock() + ":00Z",  # RFC 3339 full-time: the offset is required
    **dict.fromkeys(("email", "idn-email"), lambda v, w: v.email()),
    **dict.fromkeys(("uri", "iri", "url"), lambda v, w: v.uri(w)),
    **dict.fromkeys(("uri-reference", "iri-reference"), lambda v, w: f"/docs/{v.rng.choice(_WORDS)}"),
    "uuid": lambda v, w: str(uuid.UUID(int=v.rng.getrandbits(128), version=4)),
    **dict.fromkeys(("hostname", "idn-hostname"), _one_of(("api.example.com", "mail.example.org", "example.net"))),
    "ipv4": lambda v, w: f"{v.rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{v.rng.randint(1, 254)}",
    "ipv6": lambda v, w: f"2001:db8::{v.rng.randint(1, 0xFFFF):x}",
    "duration": _one_of(("PT15M", "PT1H", "P1D", "P2W")),
    "json-pointer": _fixed("/items/0"),
    "regex": _fixed("^[a-z]+$"),
}
