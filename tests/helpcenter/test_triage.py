"""Triage quality on the held-out messages, and how the model is trained and stored."""

from __future__ import annotations

from okpay.helpcenter import evaluation, triage


def _suggest(subject: str, body: str) -> tuple[str, str]:
    s = triage.suggest(subject, body)
    return s.category, s.priority


def test_held_out_messages(settings) -> None:  # type: ignore[no-untyped-def]
    report = evaluation.evaluate_triage(_suggest, evaluation.read_jsonl(triage.EVAL_FILE))
    assert report.messages >= 80
    # Achieved 0.977 accuracy (issue 17); the target is 0.93.
    assert report.accuracy >= 0.95, report.misses
    assert report.macro_f1 >= 0.94
    assert report.urgent_total >= 10
    assert report.urgent_recall == 1.0, report.misses


def test_messages_written_the_way_users_type(settings) -> None:  # type: ignore[no-untyped-def]
    """triage_heldout: dialect, mixed languages, full-width, emoji, traditional characters,
    typos; never tuned on (0.958 accuracy and 14 of 15 urgent cases when measured)."""
    report = evaluation.evaluate_triage(_suggest, evaluation.eval_rows("triage_heldout.jsonl"))
    assert report.messages >= 90 and report.urgent_total >= 15
    assert report.accuracy >= 0.93, report.misses
    assert report.urgent_recall >= 14 / 15, report.misses


def test_eval_sets_are_not_in_training() -> None:
    train = {(r["subject"], r["body"]) for r in evaluation.read_jsonl(triage.TRAIN_FILE)}
    assert len(train) >= 450
    seen: set[tuple[str, str]] = set()
    for name in evaluation.TRIAGE_SETS:
        rows = {(r["subject"], r["body"]) for r in evaluation.eval_rows(name)}
        assert not train & rows and not seen & rows, name
        seen |= rows


def test_reads_dialect_regional_words_mixed_languages_and_emoji() -> None:
    from okpay.helpcenter import triage_text

    assert triage_text.normalise("咋整 木有到账") == "怎么办 没有到账"
    assert triage_text.normalise("儲值 提領 對帳單") == "充值 提现 对账单"
    assert "失败" in triage_text.normalise("ＯＫＰａｙ 轉帳fail了😭")
    assert "😭" not in triage_text.normalise("转账😭")
    assert triage_text.normalise("the top up failed") == triage.tx.normalise("the top up failed")


def test_urgent_cases_in_both_languages(settings) -> None:  # type: ignore[no-untyped-def]
    s = triage.suggest("账户异常", "我没有转账，但是余额少了八千，是不是被盗了")
    assert (s.category, s.priority) == ("suspicious_activity", "urgent")
    s = triage.suggest("", "someone logged in from another country and sent my money out")
    assert s.priority == "urgent"
    assert 0.0 < s.confidence <= 1.0


def test_questions_are_not_urgent(settings) -> None:  # type: ignore[no-untyped-def]
    s = triage.suggest("fees", "how much is the fee to withdraw to my bank?")
    assert s.category == "fees" and s.priority == "low"
    assert triage.suggest("", "   ").category == "other"


def test_model_is_trained_on_first_use_and_stored(settings) -> None:  # type: ignore[no-untyped-def]
    triage.reset()
    assert not triage.model_path().exists()
    triage.suggest("忘记密码", "登录不了")
    assert triage.model_path().exists()
    triage.reset()
    again = triage.current_model()  # loaded from the file, not retrained
    assert again.fingerprint == triage.fingerprint(triage.training_rows())


def test_corrections_join_the_training_data(settings) -> None:  # type: ignore[no-untyped-def]
    extra = [{"subject": "xyzzy", "body": "xyzzy plugh", "category": "fees", "priority": "low"}]
    model = triage.do_train(extra)
    assert model.examples == len(triage.training_rows()) + 1
    assert triage.suggest("xyzzy", "xyzzy plugh").category == "fees"
    triage.reset()
