"""The employer's signatory's page: the contracts awaiting my countersignature, countersigned
together in one call (POST /api/v1/contracts/countersignatures), each with its outcome.

The contracts service decides everything: which contracts await this person
(GET /contracts?awaiting=my_countersignature) and whether each may be countersigned now.
The page shows what it answers, and keeps the refused contracts selected for another try.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, render_template, request
from flask_babel import gettext as _

from services.portal.clients import ApiError
from services.portal.people import EMPLOYER_SIGNATORY, MANAGER, api, login_required

bp = Blueprint("countersign", __name__, url_prefix="/me/countersign")

#: The batch countersigns at most this many contracts a request; the page lists as many.
BATCH_LIMIT = 500
AWAITING = "/api/v1/contracts"


@dataclass(frozen=True)
class Outcome:
    """What became of one selected contract, in the person's words."""

    contract_id: str
    outcome: str  # countersigned, already_countersigned, refused
    contract: Mapping[str, Any] | None  # as listed when the person selected it
    reason: str = ""
    fields: tuple[str, ...] = ()


def awaiting_page(page: int = 1, page_size: int = BATCH_LIMIT) -> dict[str, Any]:
    return api().contracts.get(AWAITING, awaiting="my_countersignature", page=page,
                               page_size=page_size)


def awaiting_count() -> int:
    """How many contracts await the logged-in person's countersignature (0 if the service
    cannot say now: the navigation never fails a page). Asked once a request."""
    if "awaiting_count" not in g:
        try:
            g.awaiting_count = int(awaiting_page(1, 1)["page"]["total"])
        except (ApiError, OSError, KeyError, ValueError):
            g.awaiting_count = 0
    return int(g.awaiting_count)


@bp.route("", methods=["GET", "POST"])
@login_required(MANAGER, EMPLOYER_SIGNATORY)
def contracts() -> Any:
    page = request.args.get("page", 1, type=int) or 1
    outcomes: list[Outcome] = []
    counts: dict[str, int] = {}
    error: ApiError | None = None
    if request.method == "POST":
        chosen = request.form.getlist("contract")
        if not chosen:
            error = ApiError(422, _("Nothing selected"),
                             _("Select the contracts to countersign first."))
        else:
            seen = {c["id"]: c for c in awaiting_page(page)["items"]}
            try:
                answer = api().contracts.post(
                    "/api/v1/contracts/countersignatures",
                    {"method": "electronic", "contracts": [_selected(cid) for cid in chosen]})
                outcomes = [_outcome(r, seen.get(r["contract_id"]))
                            for r in answer["contracts"]]
                counts = {k: answer[k] for k in ("countersigned", "already_countersigned",
                                                 "refused")}
            except ApiError as exc:
                error = exc  # the request as a whole was refused: nothing was countersigned
    found = awaiting_page(page)
    g.awaiting_count = found["page"]["total"]
    refused = {o.contract_id: o for o in outcomes if o.outcome == "refused"}
    keep = set(refused) if outcomes else set(request.form.getlist("contract"))
    return render_template("mine/countersign.html", found=found, outcomes=outcomes,
                           counts=counts, refused=refused, keep=keep, error=error, page=page)


def _selected(contract_id: str) -> dict[str, Any]:
    """One selected contract, with the row_version it was listed at: a contract changed
    since is refused (412) rather than countersigned unseen."""
    row: dict[str, Any] = {"contract_id": contract_id}
    version = request.form.get(f"row_version-{contract_id}", type=int)
    if version is not None:
        row["row_version"] = version
    return row


_WHY = {
    403: lambda: _("You may not countersign this contract."),
    404: lambda: _("Not found, or not yours to countersign."),
    409: lambda: _("It cannot be countersigned now."),
    412: lambda: _("It changed since you read it: read it again, then countersign."),
    422: lambda: _("The countersignature was not valid."),
}


def _outcome(result: Mapping[str, Any], contract: Mapping[str, Any] | None) -> Outcome:
    """A result of the batch as the page shows it: a refusal in words, then the service's
    own detail and the fields it names."""
    problem = result.get("problem") or {}
    if result["outcome"] != "refused":
        return Outcome(result["contract_id"], result["outcome"], contract)
    why = _WHY.get(int(problem.get("status") or 0), lambda: _("Refused."))()
    detail = str(problem.get("detail") or "")
    fields = tuple(f"{p.get('name', '').rsplit('.', 1)[-1]}: {p.get('reason', '')}"
                   for p in problem.get("invalid_params") or [])
    return Outcome(result["contract_id"], "refused", contract,
                   f"{why} {detail}".strip(), fields)
