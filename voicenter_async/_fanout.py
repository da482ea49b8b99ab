"""Fetching many department codes concurrently and collecting every outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import attrs

from ._errors import InvalidCodeError, VoicenterError
from ._models import DepartmentResult, Extension
from ._secrets import code_fingerprint, scrub_exception_chain

__all__ = ["Job", "OnResult", "plan_jobs", "run_jobs", "validate_code"]

logger = logging.getLogger("voicenter_async")

MAX_CODE_LENGTH = 256

Fetch = Callable[[str, str], Awaitable[Sequence[Extension]]]

#: Called with each department's result as soon as it is known.
OnResult = Callable[[DepartmentResult], object]


@attrs.define(slots=True)
class Job:
    """One distinct code to fetch, with every label the caller gave it."""

    label: str
    code: str = attrs.field(repr=False)
    aliases: list[str] = attrs.field(factory=list)
    error: VoicenterError | None = None


def validate_code(code: object, *, label: str | None = None) -> str:
    """Return the code if it can be sent, or raise `InvalidCodeError`.

    The message names the label and the fault but never the code's
    characters.
    """
    if not isinstance(code, str):
        msg = (
            f"department code for {label or 'this call'} must be a string, "
            f"got {type(code).__name__}"
        )
        raise InvalidCodeError(msg, label=label)
    shown = label or code_fingerprint(code)
    fault = _code_fault(code)
    if fault is not None:
        msg = f"department code for {shown} is invalid: {fault}"
        raise InvalidCodeError(msg, label=label)

    return code


def _code_fault(code: str) -> str | None:
    if not code:
        return "it is empty; pass the code Voicenter issued for the department"
    if len(code) > MAX_CODE_LENGTH:
        return (
            f"it is {len(code)} characters long, more than {MAX_CODE_LENGTH}; "
            "check that only the code was passed"
        )
    # In CPython's Unicode tables the only whitespace character that
    # str.isprintable accepts is the space, so one C-level scan and one
    # search find every character that the per-character check rejects.
    if not code.isprintable() or " " in code:
        return (
            "it contains whitespace or control characters; strip the line "
            "it was read from"
        )

    return None


def plan_jobs(codes: Iterable[str] | Mapping[str, str]) -> list[Job]:
    """Turn the caller's codes into one job per distinct code, in input order.

    Invalid codes become jobs that already carry their error, so that every
    input ends as a result or a reported failure.
    """
    if isinstance(codes, (str, bytes)):
        msg = (
            "codes must be an iterable of codes or a mapping of label to code, "
            "not a single string; wrap one code in a list"
        )
        raise InvalidCodeError(msg)
    if isinstance(codes, Mapping):
        pairs: Iterable[tuple[str | None, object]] = (
            (str(label), code) for label, code in codes.items()
        )
    else:
        try:
            items = iter(codes)
        except TypeError:
            msg = (
                "codes must be an iterable of codes or a mapping of label to "
                f"code, got {type(codes).__name__}; pass a list such as [code] "
                "or a dict such as {'sales': code}"
            )
            raise InvalidCodeError(msg) from None
        pairs = ((None, code) for code in items)

    jobs: list[Job] = []
    by_code: dict[str, Job] = {}
    for index, (given_label, code) in enumerate(pairs):
        fallback = f"codes[{index}]"
        try:
            valid = validate_code(code, label=given_label or fallback)
        except InvalidCodeError as exc:
            jobs.append(Job(label=given_label or fallback, code="", error=exc))
            continue
        label = given_label or code_fingerprint(valid)
        existing = by_code.get(valid)
        if existing is not None:
            if label != existing.label and label not in existing.aliases:
                existing.aliases.append(label)
            continue
        job = Job(label=label, code=valid)
        by_code[valid] = job
        jobs.append(job)

    return jobs


async def run_jobs(
    jobs: Sequence[Job],
    fetch: Fetch,
    *,
    concurrency: int,
    on_result: OnResult | None = None,
) -> list[DepartmentResult]:
    """Run every job, at most ``concurrency`` at a time.

    A failing job never cancels the others. Cancelling the caller cancels
    every request still in flight and waits for them to end, so no task is
    left behind.
    """
    results: list[DepartmentResult | None] = [None] * len(jobs)
    pending = iter([i for i, job in enumerate(jobs) if job.error is None])

    def finish(index: int, result: DepartmentResult) -> None:
        results[index] = result
        if on_result is not None:
            _notify(on_result, result)

    for index, job in enumerate(jobs):
        if job.error is not None:
            _log_failure(job.label, job.error, 0.0)
            finish(index, _result(job, (), job.error, 0.0))

    async def worker() -> None:
        for index in pending:
            finish(index, await _run_one(jobs[index], fetch))

    count = min(concurrency, sum(1 for job in jobs if job.error is None))
    workers = [asyncio.ensure_future(worker()) for _ in range(count)]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise

    return [_checked(result) for result in results]


async def _run_one(job: Job, fetch: Fetch) -> DepartmentResult:
    started = time.perf_counter()
    try:
        extensions = await fetch(job.code, job.label)
    except VoicenterError as exc:
        elapsed = time.perf_counter() - started
        _log_failure(job.label, exc, elapsed)
        return _result(job, (), exc, elapsed)
    except Exception as exc:
        # Every input must end as a result or a failure, so even a fault in
        # the library itself becomes this department's failure.
        error = _unexpected(exc, job)
        elapsed = time.perf_counter() - started
        _log_failure(job.label, error, elapsed)
        return _result(job, (), error, elapsed)

    elapsed = time.perf_counter() - started
    if not extensions:
        logger.warning(
            "department %s returned no extensions; the service returns an empty "
            "list for a wrong code, so check the code",
            job.label,
            extra={"voicenter_label": job.label},
        )

    return _result(job, tuple(extensions), None, elapsed)


def _unexpected(exc: Exception, job: Job) -> VoicenterError:
    scrub_exception_chain(exc, job.code)
    msg = (
        f"fetching department {job.label} failed with an unexpected "
        f"{type(exc).__name__}: {exc}; this is a bug in voicenter-async, "
        "please report it with this message"
    )
    error = VoicenterError(msg, label=job.label)
    error.__cause__ = exc

    return error


def _log_failure(label: str, error: VoicenterError, elapsed: float) -> None:
    logger.warning(
        "department %s failed after %.3f s: %s",
        label,
        elapsed,
        error,
        extra={"voicenter_label": label, "voicenter_error": type(error).__name__},
    )


def _notify(on_result: OnResult, result: DepartmentResult) -> None:
    """Call the caller's hook, logging instead of raising what it raises.

    The hook is for progress and metrics, so a fault in it must not cost
    the fan-out its other departments.
    """
    try:
        on_result(result)
    except Exception:
        logger.warning(
            "on_result raised for department %s; the fan-out continues",
            result.label,
            exc_info=True,
            extra={"voicenter_label": result.label},
        )


def _result(
    job: Job,
    extensions: tuple[Extension, ...],
    error: VoicenterError | None,
    elapsed: float,
) -> DepartmentResult:
    return DepartmentResult(
        label=job.label,
        extensions=extensions,
        error=error,
        elapsed=elapsed,
        aliases=tuple(job.aliases),
    )


def _checked(result: DepartmentResult | None) -> DepartmentResult:
    if result is None:
        msg = "every job ends with a result"
        raise AssertionError(msg)

    return result
