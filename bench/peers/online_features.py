"""The online feature vector of a customer row on a date, in Python, for the serve bench's peers.
A line-for-line port of lib/features/online.ts onlineFeatureVector (the bench checks that the ONNX
peer and our server return the same probability for the same customers, which holds only if this
port and the TypeScript agree)."""
from datetime import date


def whole_years(frm: str, to: date) -> int:
    """Anniversary semantics: the anniversary day itself counts."""
    y, m, d = int(frm[0:4]), int(frm[5:7]), int(frm[8:10])
    return to.year - y - (1 if (to.month, to.day) < (m, d) else 0)


def days_between(frm: str, to: date) -> int:
    return (to - date.fromisoformat(frm)).days


def feature_vector(row: dict, as_of: date) -> dict:
    """row: a customer_features row (dates as ISO text). Missing values are None."""
    as_of_text = as_of.isoformat()
    if as_of_text < row["last_loan_date"]:
        raise ValueError("as-of date before the customer's last loan")
    same_day = as_of_text == row["last_loan_date"]
    nb = row["nb_loans_before_last_date"] if same_day else row["nb_loans"]
    total = row["sum_loan_amount_before_last_date"] if same_day else row["sum_loan_amount"]
    latest_previous = row["previous_loan_date"] if same_day else row["last_loan_date"]
    job = row["job_start_date"]
    return {
        "nb_previous_loans": nb,
        "avg_amount_loans_previous": None if nb == 0 else total / nb,
        "age": None if row["birthday"] is None else whole_years(row["birthday"], as_of),
        "years_on_the_job": None if job is None or job > as_of_text else whole_years(job, as_of),
        "flag_own_car": row["flag_own_car"],
        "days_since_previous_loan": None if latest_previous is None else days_between(latest_previous, as_of),
        "amt_income_total": row["amt_income_total"],
    }


def error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def parse_id(body: bytes):
    """The predict contract's body rule (lib/serving/request.ts): {"id": "<1-20 digits>"}.
    Returns (id, None) or (None, (status, error body))."""
    import json

    if len(body) > 4096:
        return None, (413, error("PAYLOAD_TOO_LARGE", "body over 4096 bytes"))
    try:
        data = json.loads(body)
    except ValueError:
        return None, (400, error("INVALID_JSON", "the body is not valid JSON"))
    if not isinstance(data, dict):
        return None, (400, error("INVALID_JSON", "the body must be a JSON object"))
    cid = data["id"]
    if not isinstance(cid, str) or not (1 <= len(cid) <= 20) or not cid.isdigit() or not cid.isascii():
        return None, (400, error("INVALID_ID", '"id" must be a string of 1-20 digits'))
    return cid, None
