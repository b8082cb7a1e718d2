"""Use cases of the appraisal service: one unit of work each, events recorded with the rows."""

from services.appraisal.service.actuals import (
    RowError,
    actual_out,
    list_actuals,
    list_difficulty,
    parse_actuals_csv,
    record_actuals,
    record_pay_bases,
    set_difficulty,
)
from services.appraisal.service.appeals import (
    decide_appeal,
    file_appeal,
)
from services.appraisal.service.appraisals import (
    appraisal_history,
    get_appraisal,
    list_appraisals,
    open_appraisals,
    remind_actuals_due,
    score_one,
    transition,
    what_if,
)
from services.appraisal.service.common import (
    Page,
    Scope,
    audit_units,
    check_version,
    etag_of,
    resolve_scope,
)
from services.appraisal.service.exits import (
    close_elapsed_windows,
    get_exit_decision,
    list_appeals,
    list_exit_decisions,
)
from services.appraisal.service.managers import (
    get_manager,
    list_departures,
    list_managers,
    record_departure_api,
)
from services.appraisal.service.reports import (
    appraisal_report,
    report_csv,
)
from services.appraisal.service.runs import (
    act_on_run,
    execute_run,
    get_run,
    list_runs,
    run_progress,
    start_run,
    start_run_worker,
)
from services.appraisal.service.schemes import (
    create_scheme,
    get_scheme,
    list_schemes,
    resolve_scheme,
)
from services.appraisal.service.self_reports import (
    get_self_report,
    record_paper_self_report,
    remind_self_reports_due,
    resolve_dispute,
    set_self_report_deadline,
    submit_self_report,
)

__all__ = [
    "Page",
    "RowError",
    "Scope",
    "act_on_run",
    "actual_out",
    "appraisal_history",
    "appraisal_report",
    "audit_units",
    "check_version",
    "close_elapsed_windows",
    "create_scheme",
    "decide_appeal",
    "etag_of",
    "execute_run",
    "file_appeal",
    "get_appraisal",
    "get_exit_decision",
    "get_manager",
    "get_run",
    "get_scheme",
    "get_self_report",
    "list_actuals",
    "list_appeals",
    "list_appraisals",
    "list_departures",
    "list_difficulty",
    "list_exit_decisions",
    "list_managers",
    "list_runs",
    "list_schemes",
    "open_appraisals",
    "parse_actuals_csv",
    "record_actuals",
    "record_departure_api",
    "record_paper_self_report",
    "record_pay_bases",
    "remind_actuals_due",
    "remind_self_reports_due",
    "report_csv",
    "resolve_dispute",
    "resolve_scheme",
    "resolve_scope",
    "run_progress",
    "score_one",
    "set_difficulty",
    "set_self_report_deadline",
    "start_run",
    "start_run_worker",
    "submit_self_report",
    "transition",
    "what_if",
]
