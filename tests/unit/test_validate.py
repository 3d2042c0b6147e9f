"""``infraagent validate``: one located error per problem, in text, JSON and GitHub formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infraagent.cli.main import main
from infraagent.cli.report import escape_data, escape_property

ENVIRONMENT = """\
apiVersion: core.infraagent.io/v1alpha1
kind: AgentEnvironment
metadata:
  name: dev
spec:
  channels:
    oncall:
      type: webhook
      target: https://hooks.example.com/infraagent
"""

TIERS = """\
apiVersion: core.infraagent.io/v1alpha1
kind: ModelTierConfig
metadata:
  name: default
spec:
  defaultAuth:
    type: none
  tiers:
    - tier: fast
      provider: anthropic
      model: claude-haiku
    - tier: standard
      provider: anthropic
      model: claude-sonnet
"""

PROBE_SKILL = """\
---
name: probe
description: Probe endpoints
---
# Probe

Request every endpoint's health path and report failures.
"""

PROBE_ACTIONS = """\
actions:
  - id: get
    description: Read a health path
    tier: read
    http:
      methods: [GET]
      urls: ["https://*"]
"""

# Line numbers below are asserted exactly; keep the template's shape.
AGENT = """\
apiVersion: core.infraagent.io/v1alpha1
kind: InfraAgent
metadata:
  name: {name}
spec:
  description: {description}
  schedule:
    cron: "{cron}"
  model:
    tier: {tier}
    tokenBudget: {budget}
  skills:
    - name: {skill}
  guardrails:
    autonomy: observe
    allowedActions: ["{skill}/*"]
  environmentRef: {env}
{extra}"""


def agent(name: str, **changes: str) -> str:
    values = {
        "name": name,
        "description": "Watches endpoints",
        "cron": "*/5 * * * *",
        "tier": "fast",
        "budget": "8000",
        "skill": "probe",
        "env": "dev",
        "extra": "",
    }
    values.update(changes)
    return AGENT.format(**values)


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def base_fleet(root: Path) -> None:
    write(
        root,
        {
            "environments/dev.yaml": ENVIRONMENT,
            "environments/tiers.yaml": TIERS,
            "skills/probe/SKILL.md": PROBE_SKILL,
            "skills/probe/actions.yaml": PROBE_ACTIONS,
            "skills/README.md": "Skills of this fleet.\n",
            "agents/good.yaml": agent("good"),
        },
    )


DUPLICATE_ACTIONS = """\
actions:
  - id: restart
    description: Restart a deployment
    tier: service-mutation
    kube: {verbs: [patch], resources: [deployments.apps], namespaces: ["*"]}
  - id: restart
    description: Restart it again
    tier: service-mutation
    kube: {verbs: [patch], resources: [deployments.apps], namespaces: ["*"]}
"""

WEB_SKILL = PROBE_SKILL.replace("probe", "web")

# (file, line, column, code, a word of the message): one per deliberate problem.
EXPECTED = [
    ("agents/bad-cron.yaml", 8, 11, "schema", "minute"),
    ("agents/bad-tier.yaml", 10, 11, "unknown-model-tier", "'reasoning'"),
    ("agents/missing-skill.yaml", 13, 13, "missing-skill", "'ghost'"),
    ("agents/syntax-error.yaml", 6, 23, "yaml", "syntax"),
    ("agents/unknown-env.yaml", 17, 19, "unknown-environment", "'nowhere'"),
    ("agents/unknown-field.yaml", 18, 3, "schema", "did you mean 'paused'"),
    ("agents/wrong-type.yaml", 11, 18, "schema", "expected an integer, got 'lots'"),
    ("skills/web/actions.yaml", 6, 9, "schema", "declared twice"),
]


@pytest.fixture
def broken_fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base_fleet(tmp_path)
    write(
        tmp_path,
        {
            "agents/bad-cron.yaml": agent("bad-cron", cron="61 * * * *"),
            "agents/bad-tier.yaml": agent("bad-tier", tier="reasoning"),
            "agents/missing-skill.yaml": agent("missing-skill", skill="ghost"),
            "agents/syntax-error.yaml": agent("syntax-error", description="Watches: endpoints"),
            "agents/unknown-env.yaml": agent("unknown-env", env="nowhere"),
            "agents/unknown-field.yaml": agent("unknown-field", extra="  pasued: true\n"),
            "agents/wrong-type.yaml": agent("wrong-type", budget="lots"),
            "skills/web/SKILL.md": WEB_SKILL,
            "skills/web/actions.yaml": DUPLICATE_ACTIONS,
        },
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["validate", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


TEXT_LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): "
    r"(?P<msg>.*) \((?P<code>[a-z-]+)\)$"
)


def test_broken_fleet_text_has_one_error_per_problem(
    broken_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, ".")
    lines = out.splitlines()
    matches = [m for m in map(TEXT_LINE.match, lines[:-1]) if m]
    assert len(matches) == len(lines) - 1, out
    found = [(m["file"], int(m["line"]), int(m["col"]), m["code"]) for m in matches]
    assert found == [e[:4] for e in EXPECTED]
    for match, expected in zip(matches, EXPECTED, strict=True):
        assert expected[4] in match["msg"]
    assert lines[-1] == "8 errors, 0 warnings in 14 files"
    assert status == 1


def test_broken_fleet_json(broken_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, ".", "--format", "json")
    report = json.loads(out)
    assert status == 1
    assert (report["valid"], report["files"], report["errors"], report["warnings"]) == (
        False,
        14,
        8,
        0,
    )
    found = [(d["file"], d["line"], d["column"], d["code"]) for d in report["diagnostics"]]
    assert found == [e[:4] for e in EXPECTED]
    fields = {d["file"]: d["field"] for d in report["diagnostics"]}
    assert fields["agents/wrong-type.yaml"] == "spec.model.tokenBudget"
    assert fields["skills/web/actions.yaml"] == "actions[1].id"
    assert fields["agents/missing-skill.yaml"] == "spec.skills[0].name"


def test_broken_fleet_github(broken_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, ".", "--format", "github")
    commands = [line for line in out.splitlines() if line.startswith("::")]
    found = []
    for command in commands:
        match = re.match(r"^::error file=([^,]+),line=(\d+),col=(\d+),title=[^:]+::(.+)$", command)
        assert match, command
        found.append((match[1], int(match[2]), int(match[3])))
    assert found == [e[:3] for e in EXPECTED]
    assert out.splitlines()[-1] == "8 errors, 0 warnings in 14 files"
    assert status == 1


def test_valid_minimal_fleet_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base_fleet(tmp_path)
    status, out, _ = run(capsys, str(tmp_path))
    assert out == "no problems in 5 files\n"
    assert status == 0


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, str(tmp_path / "missing"))
    assert status == 2
    assert "no such file or directory" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(capsys, str(empty))[0] == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--format", "xml", str(tmp_path)])
    assert exit_info.value.code == 2


def test_duplicate_names_point_at_the_second_definition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    write(tmp_path, {"agents/zz-copy.yaml": "# a copy\n" + agent("good")})
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, ".")
    assert out.splitlines()[0] == (
        "agents/zz-copy.yaml:5:9: error: InfraAgent 'good' is defined twice "
        "(first in agents/good.yaml:4) [metadata.name] (duplicate-name)"
    )
    assert status == 1


def test_unmatched_glob_is_a_warning_and_fails_only_with_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    text = agent("good").replace('["probe/*"]', '["probe/get", "probe/delete-*", "kubectl.get *"]')
    write(tmp_path, {"agents/good.yaml": text})
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, ".")
    lines = out.splitlines()
    assert [line.split(": ")[0:2] for line in lines[:-1]] == [
        ["agents/good.yaml:16:35", "warning"],
        ["agents/good.yaml:16:53", "warning"],
    ]
    assert "'probe/delete-*' matches no action" in lines[0]
    assert "(declared: probe/get)" in lines[0]
    assert "'kubectl.get *' can never match" in lines[1]
    assert "original" in lines[1]
    assert lines[-1] == "0 errors, 2 warnings in 5 files"
    assert status == 0
    assert run(capsys, ".", "--strict")[0] == 1


def test_duplicate_yaml_key_is_an_error_at_the_second_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    text = agent("good").replace("    tier: fast\n", "    tier: fast\n    tier: standard\n")
    write(tmp_path, {"agents/good.yaml": text})
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, ".")
    assert out.splitlines()[0].startswith("agents/good.yaml:11:5: error: duplicate key 'tier'")
    assert "(duplicate-key)" in out
    assert out.splitlines()[-1] == "1 error, 0 warnings in 5 files"
    assert status == 1


def test_non_utf8_file_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    write(
        tmp_path,
        {"agents/latin1.yaml": agent("latin").replace("Watches", "Wächter").encode("latin-1")},
    )
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, ".")
    assert out.splitlines() == [
        "agents/latin1.yaml:6:17: error: the file is not UTF-8 text (byte 0xe4 at line 6, "
        "column 17) (encoding)",
        "1 error, 0 warnings in 6 files",
    ]
    assert status == 1


def test_github_escaping_cap_and_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    files = {f"agents/bad-{n:02}.yaml": agent(f"bad-{n:02}", cron="5% * * * *") for n in range(11)}
    files["agents/odd,name:x.yaml"] = agent("odd", cron="1|2 * * * *")
    write(tmp_path, files)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    status, out, _ = run(capsys, ".", "--format", "github")
    lines = out.splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == 10
    assert commands[0].endswith(
        "::cron expression '5%25 * * * *' has an invalid minute field '5%25'"
    )
    assert (
        lines[10] == "2 more problems not annotated (GitHub shows at most 10 annotations per step):"
    )
    assert any(line.startswith("agents/odd,name:x.yaml:8:11: error:") for line in lines[11:])
    assert lines[-1] == "12 errors, 0 warnings in 17 files"
    assert status == 1

    table = summary.read_text(encoding="utf-8")
    assert table.startswith("earlier step\n\n### infraagent validate\n")
    rows = [line for line in table.splitlines() if line.startswith("| error |")]
    assert len(rows) == 12
    odd = next(row for row in rows if "odd" in row)
    assert "1\\|2" in odd
    assert odd.count(" | ") == 6  # seven cells: the '|' of the message is escaped


def test_github_property_escaping() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a,b:c%") == "a%2Cb%3Ac%25"


def test_github_file_property_is_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    write(tmp_path, {"agents/odd,name:x.yaml": agent("odd", env="elsewhere")})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    _, out, _ = run(capsys, ".", "--format", "github")
    assert out.splitlines()[0].startswith(
        "::error file=agents/odd%2Cname%3Ax.yaml,line=17,col=19,"
        "title=spec.environmentRef (unknown-environment)::"
    )


def test_single_agent_file_does_not_report_environments_it_could_not_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {"agent.yaml": agent("alone", env="somewhere", skill="anything")})
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "agent.yaml") == (0, "no problems in 1 file\n", "")
    write(tmp_path, {"env.yaml": ENVIRONMENT})
    status, out, _ = run(capsys, "agent.yaml", "env.yaml")
    assert status == 1
    assert out.startswith("agent.yaml:17:19: error: environment 'somewhere' is not defined")


def test_directory_without_fleet_folders_is_searched_for_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path,
        {
            "defs/a/agent.yaml": agent("deep"),
            "defs/dev.yml": ENVIRONMENT,
            "defs/skills-here/probe/SKILL.md": PROBE_SKILL,
            "defs/skills-here/probe/actions.yaml": PROBE_ACTIONS,
        },
    )
    status, out, _ = run(capsys, str(tmp_path / "defs"))
    assert (status, out) == (0, "no problems in 4 files\n")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "agents/x.yaml:2:7: error: kind 'ConfigMap' ('v1') is not an InfraAgent definition",
        ),
        (
            "apiVersion: core.infraagent.io/v1alpha1\nkind: AgentRun\n",
            "agents/x.yaml:2:7: error: AgentRun is the audit record the operator writes",
        ),
        ("- just\n- a list\n", "agents/x.yaml:1:1: error: expected a Kubernetes object"),
        (
            ENVIRONMENT.replace("  name: dev\n", "  labels: {team: a}\n"),
            "agents/x.yaml:3:1: error: missing required field 'name': a fleet definition is "
            "applied by its name [metadata.name] (schema)",
        ),
        (
            ENVIRONMENT.replace("v1alpha1", "v1"),
            "agents/x.yaml:1:13: error: expected 'core.infraagent.io/v1alpha1', "
            "got 'core.infraagent.io/v1' [apiVersion] (schema)",
        ),
    ],
)
def test_documents_that_are_not_fleet_definitions(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    document: str,
    expected: str,
) -> None:
    write(tmp_path, {"agents/x.yaml": document})
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, ".")
    assert out.startswith(expected), out
    assert out.splitlines()[-1] == "1 error, 0 warnings in 1 file"
    assert status == 1


def test_skill_name_must_match_folder_and_body_must_not_be_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {"skills/probe/SKILL.md": "---\nname: probes\ndescription: d\n---\n\n"})
    monkeypatch.chdir(tmp_path)
    _, out, _ = run(capsys, ".")
    assert out.splitlines()[:2] == [
        "skills/probe/SKILL.md:2:7: error: skill name 'probes' must equal its folder name "
        "'probe' [name] (skill-name)",
        "skills/probe/SKILL.md:4:1: error: SKILL.md has no instructions after the frontmatter "
        "(skill-body)",
    ]


def test_multi_document_file_reports_each_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    write(
        tmp_path,
        {"agents/two.yaml": agent("one", budget="5") + "---\n" + agent("two", tier="ultra")},
    )
    monkeypatch.chdir(tmp_path)
    _, out, _ = run(capsys, ".")
    assert out.splitlines()[:2] == [
        "agents/two.yaml:11:18: error: must be at least 1000, got 5 "
        "[spec.model.tokenBudget] (schema)",
        "agents/two.yaml:28:11: error: expected one of 'fast', 'standard', 'reasoning', "
        "got 'ultra' [spec.model.tier] (schema)",
    ]


def test_escalation_channel_must_exist_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    escalation = "    escalation:\n      target: channel\n      channelName: oncal\n"
    text = agent("good").replace("    autonomy: observe\n", "    autonomy: observe\n" + escalation)
    write(tmp_path, {"agents/good.yaml": text})
    monkeypatch.chdir(tmp_path)
    _, out, _ = run(capsys, ".")
    assert out.splitlines()[0] == (
        "agents/good.yaml:18:20: error: escalation channel 'oncal' is not a channel of environment "
        "'dev' (its channels: oncall); did you mean 'oncall'? "
        "[spec.guardrails.escalation.channelName] (unknown-channel)"
    )


def test_single_actions_file_is_validated_as_an_action_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {"actions.yaml": DUPLICATE_ACTIONS})
    status, out, _ = run(capsys, str(tmp_path / "actions.yaml"))
    assert status == 1
    assert ":6:9: error: action id 'restart' is declared twice (first as entry 1)" in out


BAD_TIERS = """\
actions:
  - id: wipe
    description: Delete a volume claim
    tier: data-mutation
    kube: {verbs: [delete], resources: [persistentvolumeclaims], namespaces: ["*"]}
  - id: poke
    description: Poke something
    tier: harmless
    http: {methods: [POST], urls: ["https://example.com/*"]}
"""


def test_bad_action_tiers_are_errors_at_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_fleet(tmp_path)
    write(tmp_path, {"skills/probe/actions.yaml": BAD_TIERS})
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, "skills/probe/actions.yaml")
    assert status == 1
    lines = out.splitlines()
    assert lines[0].startswith("skills/probe/actions.yaml:4:11: error: tier 'data-mutation'")
    assert "never automated" in lines[0]
    assert lines[1].startswith("skills/probe/actions.yaml:8:11: error:")
    assert "read, service-mutation, destructive-mutation" in lines[1].replace("'", "")
    status, out, _ = run(capsys, "skills/probe/actions.yaml", "--format", "github")
    assert [line.split("::")[1].split(",title")[0] for line in out.splitlines()[:2]] == [
        "error file=skills/probe/actions.yaml,line=4,col=11",
        "error file=skills/probe/actions.yaml,line=8,col=11",
    ]
