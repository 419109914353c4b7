"""Names the policy does not know are noted on stderr with the closest known one: the
new owner of ``assign`` and ``transfer``, ``--as``; and ``list --service`` with a
service the policy does not list says so instead of a silent "No incidents."."""

from __future__ import annotations

T0 = "2026-11-25T03:00:00Z"


def test_a_mistyped_owner_is_noted_with_the_closest_name(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    out = cli("assign", "1", "--to", "liu.yng", now=T0)
    assert "Note: the new owner 'liu.yng' is not a contact of the policy" in out.stderr
    assert "Did you mean 'liu.yang'?" in out.stderr
    assert cli.json("show", "1", now=T0)["assignee"] == "liu.yng"  # allowed, as typed
    out = cli("transfer", "1", "--to", "zhang.mn", "--reason", "fix", now=T0)
    assert "Did you mean 'zhang.min'?" in out.stderr
    known = cli("transfer", "1", "--to", "liu.yang", "--reason", "fix", now=T0)
    assert "Note:" not in known.stderr


def test_a_mistyped_as_is_noted(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    out = cli("--as", "chen.jei", "ack", "1", now=T0)
    assert "Note: --as 'chen.jei' is not a contact of the policy" in out.stderr
    assert "Did you mean 'chen.jie'?" in out.stderr
    assert "Note:" not in cli("--as", "chen.jie", "note", "1", "ok", now=T0).stderr


def test_list_of_an_unknown_service_says_so(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    out = cli("list", "--service", "paymnts", now=T0)
    assert "No incidents." in out.stdout
    assert "Note: service 'paymnts' is not in the policy" in out.stderr
    assert "Did you mean 'payments'?" in out.stderr
    assert cli.json("list", "--service", "paymnts", now=T0) == []  # stdout stays JSON
    assert "Note:" not in cli("list", "--service", "payments", now=T0).stderr
