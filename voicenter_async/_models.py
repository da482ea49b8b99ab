"""Records returned by the session: extensions, department results, rosters."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._errors import VoicenterError

__all__ = ["DepartmentResult", "Extension", "Roster", "SipConflict"]


@attrs.frozen(slots=True)
class Extension:
    """One extension of the organization, as GetExtensions lists it.

    Attributes:
        sip: The SIP user code that identifies the extension (``SIP``).
        name: The extension's name in the Voicenter control panel (``Name``).
        speed_dial: The short internal number (``SpeedDial``).
        account_id: The id of the department the extension is set on
            (``AccountID``).
        account_name: The name of that department (``AccountName``).
        user_name: The name of the user of the extension (``UserName``).
        user_email: The e-mail address of that user (``UserEmail``).
    """

    sip: str
    name: str | None = None
    speed_dial: str | None = None
    account_id: int | None = None
    account_name: str | None = None
    user_name: str | None = None
    user_email: str | None = None


@attrs.frozen(slots=True)
class DepartmentResult:
    """The outcome of fetching one department code in a fan-out.

    Attributes:
        label: The label the caller gave the code, or the code's fingerprint
            (``dept-`` and 8 hex digits) when none was given.
        extensions: The extensions the service returned, in its order.
        error: Why the fetch failed, or None when it succeeded.
        elapsed: Seconds from the first request for this code to its result.
        aliases: Other labels given to the same code; the code was fetched
            once and the result serves all of them.
    """

    label: str
    extensions: tuple[Extension, ...] = ()
    error: VoicenterError | None = None
    elapsed: float = 0.0
    aliases: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the fetch succeeded."""
        return self.error is None

    @property
    def empty(self) -> bool:
        """Whether the fetch succeeded but returned no extension.

        The service returns an empty list for a well-formed but unknown
        code, so an empty department often means a wrong code.
        """
        return self.error is None and not self.extensions


@attrs.frozen(slots=True)
class SipConflict:
    """One SIP that two or more departments returned with different data.

    Attributes:
        sip: The SIP in question.
        variants: Each distinct record with the label of the department that
            returned it first, in input order. The roster keeps the first.
    """

    sip: str
    variants: tuple[tuple[str, Extension], ...]


def _merge(
    departments: Iterable[DepartmentResult],
) -> tuple[dict[str, Extension], tuple[SipConflict, ...]]:
    by_sip: dict[str, Extension] = {}
    first_label: dict[str, str] = {}
    variants: dict[str, list[tuple[str, Extension]]] = {}
    for department in departments:
        for extension in department.extensions:
            kept = by_sip.setdefault(extension.sip, extension)
            if kept is extension:
                first_label[extension.sip] = department.label
                continue
            if kept == extension:
                continue
            seen = variants.setdefault(
                extension.sip, [(first_label[extension.sip], kept)]
            )
            if all(other != extension for _, other in seen):
                seen.append((department.label, extension))
    conflicts = tuple(
        SipConflict(sip=sip, variants=tuple(found)) for sip, found in variants.items()
    )

    return by_sip, conflicts


def _index_emails(
    extensions: Iterable[Extension],
) -> dict[str, Extension | tuple[Extension, ...]]:
    # Most users have one extension, so the index stores that record itself
    # and builds a tuple only for a shared address: a tuple per entry would
    # cost about 60 bytes per extension in a large roster.
    first: dict[str, Extension] = {}
    shared: dict[str, list[Extension]] = {}
    for extension in extensions:
        email = extension.user_email
        if not email:
            continue
        key = email.casefold()
        if key == email:
            # casefold() returns a new string even when nothing changed.
            key = email
        found = first.setdefault(key, extension)
        if found is not extension:
            shared.setdefault(key, [found]).append(extension)
    index: dict[str, Extension | tuple[Extension, ...]] = dict(first)
    for key, records in shared.items():
        index[key] = tuple(records)

    return index


@attrs.frozen(slots=True)
class Roster:
    """The merged result of fetching many departments.

    Build one with `Roster.from_departments`; the session does so for
    ``fetch_departments``.

    Attributes:
        departments: One result per distinct input code, in input order.
        extensions: Every extension returned, de-duplicated by SIP, in the
            order of first appearance.
        conflicts: The SIPs that came back from several departments with
            different data; the first record seen is the one kept.
    """

    departments: tuple[DepartmentResult, ...]
    extensions: tuple[Extension, ...]
    conflicts: tuple[SipConflict, ...] = ()
    _by_sip: dict[str, Extension] = attrs.field(
        factory=dict, repr=False, eq=False, alias="by_sip"
    )
    _by_email: dict[str, Extension | tuple[Extension, ...]] = attrs.field(
        factory=dict, repr=False, eq=False, alias="by_email"
    )

    @classmethod
    def from_departments(cls, departments: Iterable[DepartmentResult]) -> Roster:
        """Merge department results into a roster."""
        results = tuple(departments)
        by_sip, conflicts = _merge(results)
        extensions = tuple(by_sip.values())

        return cls(
            departments=results,
            extensions=extensions,
            conflicts=conflicts,
            by_sip=by_sip,
            by_email=_index_emails(extensions),
        )

    @property
    def failures(self) -> tuple[DepartmentResult, ...]:
        """The departments whose fetch failed."""
        return tuple(d for d in self.departments if d.error is not None)

    @property
    def empty_departments(self) -> tuple[DepartmentResult, ...]:
        """The departments that succeeded with no extension."""
        return tuple(d for d in self.departments if d.empty)

    @property
    def ok(self) -> bool:
        """Whether every department succeeded."""
        return not self.failures

    def by_sip(self, sip: str) -> Extension | None:
        """Return the extension with this SIP, or None."""
        return self._by_sip.get(sip)

    def by_email(self, email: str) -> tuple[Extension, ...]:
        """Return the extensions of the user with this e-mail address.

        The match ignores case. A user may have several extensions, so the
        result is a tuple, empty when none matches.
        """
        found = self._by_email.get(email.casefold(), ())

        return found if isinstance(found, tuple) else (found,)

    def by_account(self) -> dict[int | None, tuple[Extension, ...]]:
        """Group the extensions by department id (``AccountID``)."""
        groups: dict[int | None, list[Extension]] = {}
        for extension in self.extensions:
            groups.setdefault(extension.account_id, []).append(extension)

        return {account: tuple(found) for account, found in groups.items()}

    def __len__(self) -> int:
        return len(self.extensions)
