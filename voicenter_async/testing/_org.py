"""Departments, the in-memory directory the emulator serves, and sample data."""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from voicenter_async._secrets import code_fingerprint as fingerprint

#: Department codes the emulator accepts: 8 to 64 ASCII letters or digits.
#: Any other string, the empty string included, gets ERR 1 in the response.
CODE_RE = re.compile(r"[A-Za-z0-9]{8,64}")

DEFAULT_ORGANIZATION = "default"


def encode_json(value: object) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON, keeping Hebrew unescaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    return text.encode("utf-8")


def is_valid_code(code: object) -> bool:
    """Check whether ``code`` has the format the emulator accepts."""
    return isinstance(code, str) and CODE_RE.fullmatch(code) is not None


def _mask_code(code: str) -> str:
    return fingerprint(code)


def _count_extensions(extensions: tuple[DirectoryExtension, ...]) -> str:
    return f"<{len(extensions)} extensions>"


@attrs.frozen
class DirectoryExtension:
    """One extension as the API lists it, without the department fields.

    The wire record also carries ``AccountID`` and ``AccountName``; those come
    from the :class:`Department` the extension belongs to.

    Attributes:
        sip: The SIP user name, unique within a directory built by
            :func:`sample_organization`.
        name: The display name of the extension; empty when it has none.
        speed_dial: The short internal number.
        user_name: The name of the user the extension is assigned to.
        user_email: That user's e-mail address.
    """

    sip: str
    name: str = ""
    speed_dial: str = ""
    user_name: str = ""
    user_email: str = ""

    @classmethod
    def from_wire(cls, record: Mapping[str, Any]) -> DirectoryExtension:
        """Build an extension from a wire record such as ``{"SIP": ...}``.

        Args:
            record: A mapping with the key ``SIP`` and, optionally, ``Name``,
                ``SpeedDial``, ``UserName`` and ``UserEmail``, which default
                to empty strings. Other keys, ``AccountID`` and
                ``AccountName`` included, are ignored.

        Raises:
            ValueError: ``SIP`` is missing.
        """
        if "SIP" not in record:
            keys = ", ".join(sorted(map(str, record))) or "none"
            msg = (
                f"extension record has no 'SIP' key (keys given: {keys}); "
                "every extension needs its SIP user name"
            )
            raise ValueError(msg)

        return cls(
            sip=str(record["SIP"]),
            name=str(record.get("Name", "")),
            speed_dial=str(record.get("SpeedDial", "")),
            user_name=str(record.get("UserName", "")),
            user_email=str(record.get("UserEmail", "")),
        )


def _to_extensions(
    extensions: Iterable[DirectoryExtension | Mapping[str, Any]],
) -> tuple[DirectoryExtension, ...]:
    return tuple(
        item
        if isinstance(item, DirectoryExtension)
        else DirectoryExtension.from_wire(item)
        for item in extensions
    )


@attrs.frozen
class Department:
    """A department: one code, one account, a list of extensions.

    The repr shows the code's fingerprint, never the code.

    Attributes:
        code: The secret department code that callers send as ``code``.
        account_id: The numeric account id, sent as ``AccountID``.
        account_name: The department name, sent as ``AccountName``.
        extensions: The extensions of this department, in listing order.
        organization: The organization the department belongs to.
            ``showAll=1`` lists every department of this organization.
    """

    code: str = attrs.field(repr=_mask_code)
    account_id: int
    account_name: str
    extensions: tuple[DirectoryExtension, ...] = attrs.field(
        default=(), converter=_to_extensions, repr=_count_extensions
    )
    organization: str = DEFAULT_ORGANIZATION

    @property
    def fingerprint(self) -> str:
        """The label of :attr:`code` from `voicenter_async.code_fingerprint`."""
        return fingerprint(self.code)

    def wire_extensions(self) -> list[dict[str, Any]]:
        """Return the extensions as the JSON objects the API sends."""
        return [
            {
                "SIP": extension.sip,
                "Name": extension.name,
                "SpeedDial": extension.speed_dial,
                "AccountID": self.account_id,
                "AccountName": self.account_name,
                "UserName": extension.user_name,
                "UserEmail": extension.user_email,
            }
            for extension in self.extensions
        ]


class Directory:
    """An in-memory store of departments, grouped by organization.

    The emulator and the respx helper read departments from a directory.
    Adding departments while a server runs is safe, also from another thread:
    each request lists the directory as it is when the request arrives.
    """

    def __init__(self, departments: Iterable[Department] = ()) -> None:
        self._by_code: dict[str, Department] = {}
        # Each department's extension records as JSON array items, without
        # the brackets, by code. Departments are immutable and never removed,
        # so an entry never goes stale.
        self._encoded_extensions: dict[str, bytes] = {}
        # Response bodies that list a whole organization, by organization
        # name. Adding a department empties it. With 10 extensions each, a
        # body for 400 departments is roughly 770 KB, so it is joined once.
        self._organization_bodies: dict[str, bytes] = {}
        self._lock = threading.Lock()
        for department in departments:
            self.add(department)

    def __repr__(self) -> str:
        organizations = {d.organization for d in self._by_code.values()}
        extensions = sum(len(d.extensions) for d in self._by_code.values())

        return (
            f"Directory(departments={len(self._by_code)}, "
            f"organizations={len(organizations)}, extensions={extensions})"
        )

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Department]:
        return iter(tuple(self._by_code.values()))

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def add(self, department: Department) -> Department:
        """Add ``department`` and return it.

        Raises:
            ValueError: The code has an invalid format, or another department
                already uses it.
        """
        if not is_valid_code(department.code):
            msg = (
                f"Invalid code for {department.fingerprint}: a department code "
                "must be 8 to 64 ASCII letters or digits."
            )
            raise ValueError(msg)
        if department.code in self._by_code:
            msg = f"Duplicate department code {department.fingerprint}."
            raise ValueError(msg)

        with self._lock:
            self._by_code[department.code] = department
            self._organization_bodies.clear()

        return department

    def add_department(
        self,
        code: str,
        *,
        account_id: int,
        account_name: str,
        extensions: Iterable[DirectoryExtension | Mapping[str, Any]] = (),
        organization: str = DEFAULT_ORGANIZATION,
    ) -> Department:
        """Create a department and add it.

        Args:
            code: The department code, 8 to 64 ASCII letters or digits.
            account_id: Sent as ``AccountID`` on each extension.
            account_name: Sent as ``AccountName`` on each extension.
            extensions: :class:`DirectoryExtension` records or wire mappings with the
                keys ``SIP``, ``Name``, ``SpeedDial``, ``UserName`` and
                ``UserEmail``.
            organization: The organization the department belongs to.
                Departments added without one share the organization
                ``"default"``.

        Returns:
            The new department.

        Raises:
            ValueError: The code has an invalid format or is already used, or
                an extension mapping has no ``SIP``.
        """
        department = Department(
            code=code,
            account_id=account_id,
            account_name=account_name,
            extensions=extensions,
            organization=organization,
        )

        return self.add(department)

    def encoded_extensions(self, department: Department) -> bytes:
        """Return the department's extension records as comma-separated JSON.

        The bytes are the items of the ``EXTENSIONS`` array, without the
        brackets, so several departments join with a comma. They are encoded
        on first use and kept; :meth:`encode_all` encodes them ahead of time.
        """
        encoded = self._encoded_extensions.get(department.code)
        if encoded is None:
            # Two threads may both encode a department; they store equal bytes.
            encoded = encode_json(department.wire_extensions())[1:-1]
            self._encoded_extensions[department.code] = encoded
        return encoded

    def encode_all(self) -> None:
        """Encode the extension records of every department now.

        A server calls this before it takes requests, so that no request pays
        for encoding. Departments added later are encoded on first use.
        """
        for department in self:
            self.encoded_extensions(department)

    def organization_body(
        self, organization: str, encode: Callable[[], bytes]
    ) -> bytes:
        """Return the cached body that lists ``organization``, encoding it if needed.

        The lock makes sure a body encoded before a department was added is
        never stored after the cache was emptied for that addition.
        """
        with self._lock:
            body = self._organization_bodies.get(organization)
            if body is None:
                body = encode()
                self._organization_bodies[organization] = body
            return body

    def get(self, code: str) -> Department | None:
        """Return the department with ``code``, or None if there is none."""
        return self._by_code.get(code)

    def organization(self, organization: str) -> tuple[Department, ...]:
        """Return the departments of ``organization`` in the order added."""
        return tuple(
            d for d in self._by_code.values() if d.organization == organization
        )

    @property
    def organizations(self) -> tuple[str, ...]:
        """The organization names, in the order they first appeared."""
        return tuple(dict.fromkeys(d.organization for d in self._by_code.values()))


# Sample data. Each Hebrew name is paired with the Latin spelling used to
# build e-mail addresses.
_HEBREW_FIRST = (
    ("אבי", "avi"),
    ("אורית", "orit"),
    ("איתי", "itay"),
    ("אלה", "ella"),
    ("בני", "beni"),
    ("גלית", "galit"),
    ("דנה", "dana"),
    ("דוד", "david"),
    ("הדס", "hadas"),
    ("יוסי", "yossi"),  # noqa: RUF001 - Hebrew letters, not look-alikes
    ("יעל", "yael"),
    ("מיכל", "michal"),
    ("משה", "moshe"),
    ("נועה", "noa"),
    ("עומר", "omer"),
    ("רונית", "ronit"),
    ("שירה", "shira"),
    ("תמר", "tamar"),
    ("רועי", "roi"),
    ("ליאור", "lior"),
)
_HEBREW_LAST = (
    ("כהן", "cohen"),
    ("לוי", "levi"),
    ("מזרחי", "mizrahi"),
    ("פרץ", "peretz"),
    ("ביטון", "biton"),
    ("אברהם", "avraham"),
    ("פרידמן", "friedman"),
    ("אזולאי", "azulay"),
    ("שפירא", "shapira"),
    ("גבאי", "gabay"),
    ("דהן", "dahan"),
    ("חדד", "hadad"),
)
_LATIN_FIRST = (
    "Anna",
    "Ben",
    "Chloe",
    "Daniel",
    "Emma",
    "Felix",
    "Grace",
    "Hugo",
    "Iris",
    "Jonah",
    "Lena",
    "Max",
    "Nina",
    "Oscar",
    "Paula",
    "Sam",
)
_LATIN_LAST = (
    "Adler",
    "Brooks",
    "Carter",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Klein",
    "Morgan",
    "Novak",
    "Schwartz",
)
_DEPARTMENT_NAMES = (
    ("מכירות", "Sales"),
    ("תמיכה טכנית", "Technical Support"),
    ("שירות לקוחות", "Customer Service"),
    ("הנהלת חשבונות", "Accounting"),
    ("משאבי אנוש", "Human Resources"),
    ("גבייה", "Collections"),
    ("שיווק", "Marketing"),
    ("לוגיסטיקה", "Logistics"),
    ("מוקד", "Call Center"),
    ("הנהלה", "Management"),
)
_BRANCHES = (
    ("תל אביב", "Tel Aviv"),
    ("חיפה", "Haifa"),
    ("ירושלים", "Jerusalem"),
    ("באר שבע", "Beer Sheva"),
    ("נתניה", "Netanya"),
)
_SHARED_LINES = (("קבלה", "Reception"), ("מענה קולי", "Voicemail"))
_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

#: Prefix of every code :func:`sample_organization` makes, so that a
#: generated code is recognisably fake wherever it turns up.
SAMPLE_CODE_PREFIX = "FAKE"


def _sample_code(rng: random.Random, used: set[str]) -> str:
    while True:
        tail = "".join(rng.choices(_CODE_ALPHABET, k=28))
        code = f"{SAMPLE_CODE_PREFIX}{tail}"
        if code not in used:
            used.add(code)
            return code


def _sample_department_name(rng: random.Random, index: int) -> str:
    hebrew = rng.random() < 0.6
    name_pair = _DEPARTMENT_NAMES[index % len(_DEPARTMENT_NAMES)]
    branch_pair = _BRANCHES[(index // len(_DEPARTMENT_NAMES)) % len(_BRANCHES)]
    name = name_pair[0] if hebrew else name_pair[1]
    branch = branch_pair[0] if hebrew else branch_pair[1]

    return f"{name} - {branch}"


def _sample_person(rng: random.Random, domain: str) -> tuple[str, str]:
    """Return a display name and e-mail address, Hebrew about 70% of the time."""
    if rng.random() < 0.7:
        first, first_latin = rng.choice(_HEBREW_FIRST)
        last, last_latin = rng.choice(_HEBREW_LAST)
        name = f"{first} {last}"
    else:
        first_latin = rng.choice(_LATIN_FIRST)
        last_latin = rng.choice(_LATIN_LAST)
        name = f"{first_latin} {last_latin}"
    local_part = f"{first_latin}.{last_latin}".lower()

    return name, f"{local_part}{rng.randrange(100)}@{domain}"


def _sample_extension(
    rng: random.Random, sip: int, speed_dial: int, domain: str
) -> DirectoryExtension:
    if rng.random() < 0.1:
        hebrew, latin = rng.choice(_SHARED_LINES)
        return DirectoryExtension(
            sip=str(sip),
            name=hebrew if rng.random() < 0.6 else latin,
            speed_dial=str(speed_dial),
        )

    user_name, user_email = _sample_person(rng, domain)
    return DirectoryExtension(
        sip=str(sip),
        name=user_name,
        speed_dial=str(speed_dial),
        user_name=user_name,
        user_email=user_email,
    )


def sample_organization(
    seed: int = 0,
    departments: int = 40,
    extensions_per_department: int = 10,
    *,
    organizations: int = 1,
) -> Directory:
    """Build a directory of realistic, made-up departments.

    The same arguments always give the same directory, codes included. Codes
    start with ``FAKE`` followed by 28 random letters and digits. SIPs are
    unique 7-digit strings across the directory, and speed dials are unique
    within an organization. Names are Hebrew or Latin, e-mail addresses use
    ``*.example`` domains (reserved, so they never resolve), and about one
    extension in ten is a shared line (reception, voicemail) with no user.

    Args:
        seed: Seed for the random choices.
        departments: Number of departments in total.
        extensions_per_department: Number of extensions in each department.
        organizations: Number of organizations; departments are dealt to them
            in turn, so organization ``k`` has departments ``k``, ``k + n``,
            and so on. Organization names are ``sample-<seed>-<k>``.

    Returns:
        A new directory.

    Raises:
        ValueError: A count is negative, or ``organizations`` is below 1.
    """
    if departments < 0 or extensions_per_department < 0:
        msg = (
            f"Invalid sample size: departments={departments} and "
            f"extensions_per_department={extensions_per_department} must not "
            "be negative."
        )
        raise ValueError(msg)
    if organizations < 1:
        msg = f"Invalid organizations={organizations}: it must be at least 1."
        raise ValueError(msg)

    rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets
    total_extensions = departments * extensions_per_department
    sips = rng.sample(range(1_000_000, 10_000_000), total_extensions)
    account_ids = rng.sample(range(10_000, 1_000_000), departments)
    used_codes: set[str] = set()
    next_speed_dial = [1000] * organizations
    directory = Directory()

    for index in range(departments):
        org_index = index % organizations
        domain = f"org{seed}-{org_index}.example"
        extensions = []
        for _ in range(extensions_per_department):
            extensions.append(
                _sample_extension(rng, sips.pop(), next_speed_dial[org_index], domain)
            )
            next_speed_dial[org_index] += 1
        directory.add_department(
            _sample_code(rng, used_codes),
            account_id=account_ids[index],
            account_name=_sample_department_name(rng, index),
            extensions=extensions,
            organization=f"sample-{seed}-{org_index}",
        )

    return directory
