"""What a holder can do about each reason, in English or Chinese."""

from __future__ import annotations

from typing import Any

TEXT = {
    "en": {
        "daily_report": "File a daily health report without symptoms "
                        "(POST /api/v1/me/daily-reports); {n} more clean day(s) needed.",
        "negative_test": "Get a test: a negative result clears this reason.",
        "wait": "Nothing to do: this reason ends on {until} if nothing new happens.",
        "appeal": "If this record is wrong, appeal it (POST /api/v1/me/appeals with "
                  "target 'code' and target_id '{target_id}').",
        "appeal_self": "If you reported this by mistake, file a new questionnaire.",
    },
    "zh": {
        "daily_report": "请提交无症状的每日健康报告（POST /api/v1/me/daily-reports）；"
                        "还需 {n} 天。",
        "negative_test": "请进行检测：阴性结果可解除此原因。",
        "wait": "无需操作：如无新情况，此原因将于 {until} 结束。",
        "appeal": "如记录有误，可提出申诉（POST /api/v1/me/appeals，target 为 'code'，"
                  "target_id 为 '{target_id}'）。",
        "appeal_self": "如填报有误，请重新填写健康问卷。",
    },
}


def actions_for(reason: dict[str, Any], lang: str) -> list[dict[str, str]]:
    text = TEXT.get(lang, TEXT["en"])
    actions: list[dict[str, str]] = []
    if "clean_questionnaire" in reason["pending"] or reason.get("clean_days_left"):
        n = max(1, reason.get("clean_days_left") or 1)
        actions.append({"kind": "daily_report", "text": text["daily_report"].format(n=n)})
    elif "negative_test" in reason["pending"]:
        actions.append({"kind": "test", "text": text["negative_test"]})
    else:
        actions.append({"kind": "wait", "text": text["wait"].format(until=reason["until"])})
    for fact in reason["facts"]:
        if fact["source"] == "self_report":
            actions.append({"kind": "correct", "text": text["appeal_self"]})
            break
    for fact in reason["facts"]:
        if fact["source"] != "self_report":
            target_id = f"{fact['source']}/{fact['ref']}"
            actions.append({"kind": "appeal", "target_id": target_id,
                            "text": text["appeal"].format(target_id=target_id)})
    return actions


def explain(decision: dict[str, Any], lang: str) -> dict[str, Any]:
    """The decision with, for every reason, what the holder can do."""
    for reason in decision["reasons"]:
        reason["actions"] = actions_for(reason, lang)
    return decision
