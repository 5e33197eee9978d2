"""A rolling upgrade rehearsed (`make rehearsal-upgrade`; also in `make test`): AnswersSaved
v2 deployed one replica at a time while the other replicas still run the release before it.

The old release is really old code: the commit before `AnswersSaved` v2 was added, taken from
git history (`git archive`) and run from its own source tree (`PYTHONPATH` ahead of the
workspace's editable installs, in the same virtualenv). A release that cannot read v2 must
never meet it, so the upgrade goes in two rolls (docs/contracts.md, "Versioning an event"):

1. **expand**: every Deployment rolled, one replica at a time, from the old release to the new
   one as shipped: it reads v1 and v2, and writes v1 (`CSM_EVENT_WRITE_VERSIONS` defaults);
2. **switch**: questionnaire (the only writer of AnswersSaved) rolled again with
   `CSM_EVENT_WRITE_VERSIONS=questionnaire.AnswersSaved=2`, so for a while replicas that write
   v1 and replicas that write v2 serve the same streams.

Throughout, answers are saved to the same questionnaires through the balancers, one
connection per request, so consecutive saves of a stream land on different replicas (each
loads the aggregate from events other replicas wrote); at the end every return is submitted
and signed off. Then: no dead letters, projections equal a rebuild, every stream verifies,
nothing answered 2xx is missing, both versions were written, the old release really ran old
code and cannot read v2 (why the pin), and the schema check accepts the change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal import REHEARSAL_ENV, guarded, say
from rehearsal_checks import (
    Check,
    accepted_is_stored,
    no_dead_letters,
    pools,
    projections_equal_rebuild,
    quiesce,
    streams_verify,
    table,
)
from rehearsal_cluster import SERVICES, Cluster, Replica
from rehearsal_driver import (
    SCALES,
    Accepted,
    Api,
    Inbox,
    Organisation,
    open_cycle,
    organisation_codes,
)

from csm_contracts.compat import breaking_changes_between
from csm_contracts.schemas import SCHEMA_DIR, committed_schemas, current_schemas

ROOT = Path(__file__).resolve().parents[2]
EVENT = "questionnaire.AnswersSaved"
#: The change rehearsed: the commit that added this file is the new release.
V2_SCHEMA = "contracts/schemas/questionnaire.AnswersSaved.v2.json"
SWITCH_ENV = {"CSM_EVENT_WRITE_VERSIONS": f"{EVENT}=2"}
#: Two replicas of each: the fewest with which one runs the new code beside an old one (each
#: replica's start costs about 5 s of CPU, a minute or two on a loaded machine).
REPLICAS = dict.fromkeys(SERVICES, 2)
#: Only questionnaire writes AnswersSaved, so only it is rolled for the switch (a setting).
WRITERS = ("questionnaire",)
ORGANISATIONS = 4
#: Seconds each mixed state (one more replica replaced) is left to serve saves.
DWELL = 3.0


@dataclass(frozen=True)
class OldRelease:
    commit: str
    tree: Path
    pythonpath: str


def old_release(dest: Path, root: Path = ROOT) -> OldRelease:
    """The source tree of the commit before AnswersSaved v2, extracted under `dest`.

    It is the parent of the commit that added the v2 schema; before that change is committed,
    HEAD. Without git history (a shallow clone or an export) this fails saying so."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
            )
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            raise RuntimeError(
                "the rolling upgrade runs the release before AnswersSaved v2 from git history,"
                f" which is not here (a full clone is needed; git {' '.join(args)}: {detail})"
            ) from error
        return done.stdout.strip()

    added = git("log", "--diff-filter=A", "--format=%H", "--", V2_SCHEMA).split()
    if added:
        commit = git("rev-parse", "--verify", f"{added[-1]}^^{{commit}}")
    elif (root / V2_SCHEMA).exists():
        commit = git("rev-parse", "--verify", "HEAD^{commit}")  # v2 not committed yet
    else:
        raise RuntimeError(f"{V2_SCHEMA} is neither in git history nor in the working tree")
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    # Compiled once here, not by each old replica as it starts.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(dest)], check=False)
    if (dest / V2_SCHEMA).exists():
        raise RuntimeError(f"{commit} already has {V2_SCHEMA}: not the release before it")
    sources = [
        *sorted(dest.glob("libs/*/src")),
        dest / "contracts" / "src",
        *sorted(dest.glob("services/*/src")),
    ]
    return OldRelease(commit, dest, os.pathsep.join(str(p) for p in sources))


def _run_old(release: OldRelease, code: str) -> subprocess.CompletedProcess[str]:
    """`code` run by the old release, as its replicas run (same interpreter, its PYTHONPATH)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": release.pythonpath},
        capture_output=True,
        text=True,
        timeout=120,
    )


def old_code_runs_from_its_tree(release: OldRelease) -> Check:
    """The old release's replicas import every package from the extracted tree."""
    packages = ["csm_contracts", "csm_kernel", "csm_infra", *SERVICES]
    done = _run_old(
        release,
        "import importlib\n"
        f"for name in {packages!r}:\n"
        "    print(importlib.import_module(name).__file__)\n",
    )
    files = done.stdout.split()
    outside = [f for f in files if not f.startswith(str(release.tree))]
    holds = done.returncode == 0 and len(files) == len(packages) and not outside
    detail = (
        f"commit {release.commit[:12]}: {len(files)} packages from its own tree"
        if holds
        else f"not from {release.tree}: {outside or done.stderr[-300:]}"
    )
    return Check("old replicas ran the old release", holds, detail)


def old_release_cannot_read_v2(release: OldRelease) -> Check:
    """What the old release does with a v2 event: what its aggregate loads and consumers do
    (decode through its registry). It refuses it, which is why v2 is first written as v1."""
    done = _run_old(
        release,
        "from csm_kernel.event_sourcing import decode_payload\n"
        "data = {'organisation_id': 'RX1', 'cycle': '2009-10', 'questionnaire_id': 'q',\n"
        "        'changes': [{'question': 'a', 'old': None, 'new': 1}], 'answered': 1}\n"
        "try:\n"
        f"    decode_payload({EVENT!r}, 2, data)\n"
        "    print('read')\n"
        "except Exception as error:\n"
        "    print(f'{type(error).__name__}: {error}')\n",
    )
    said = done.stdout.strip() or done.stderr[-300:]
    holds = said.startswith("UnknownEventType")
    detail = f"it refuses v2 ({said}), so the new release writes v1 until all run it"
    return Check("old release cannot read v2 (hence the pin)", holds, detail if holds else said)


def schema_check_accepts(release: OldRelease) -> Check:
    """The compatibility check from the old release's committed schemas to the new code's."""
    old = committed_schemas(release.tree / "contracts" / "schemas")
    problems = breaking_changes_between(old, current_schemas())
    added = sorted(set(committed_schemas(SCHEMA_DIR)) - set(old))
    holds = not problems and Path(V2_SCHEMA).name in added
    detail = f"no breaking change; added {', '.join(added)}" if holds else "; ".join(problems)
    return Check("schema check accepts the change", holds, detail or f"added: {added}")


@dataclass
class Churn:
    """Saves to the same questionnaires, spread over every replica, while the rolls run."""

    api: Api
    questionnaires: dict[str, dict[str, str]]  # id -> lead's headers
    phase: str = "old release"
    saves: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        rounds = 0
        while not self.stop.is_set():
            rounds += 1
            for qid, headers in self.questionnaires.items():
                await self.save_once(qid, headers, rounds)

    async def save_once(self, qid: str, headers: dict[str, str], n: int) -> None:
        # A new connection per request: the balancer gives each to the next replica.
        fresh = {**headers, "connection": "close"}
        r = await self.api.call("GET", "questionnaire", f"/questionnaires/{qid}", headers=fresh)
        if r is None or r.status_code != 200:
            self.failures.append(f"{self.phase}: read {qid}: {_said(r)}")
            return
        changes = revision(r.json(), n)
        if not changes:
            return
        r = await self.api.call(
            "PATCH",
            "questionnaire",
            f"/questionnaires/{qid}/answers",
            headers=fresh,
            json={"version": r.json()["version"], "answers": changes},
        )
        if r is not None and r.status_code == 200:
            self.api.accepted.saves.append((qid, r.json()["version"]))
            self.saves[self.phase] += 1
        elif r is None or r.status_code != 409:  # 409: a retried save had landed after all
            self.failures.append(f"{self.phase}: save {qid}: {_said(r)}")


def revision(view: dict[str, Any], n: int) -> dict[str, Any]:
    """A change that keeps the questionnaire valid and submittable: a self-assessment's first
    evidence reworded, or a service's medical staff and total staff moved together (the
    rehearsal answered every other profession 0)."""
    questions = {q["id"]: q for section in view["sections"] for q in section["questions"]}
    for q in questions.values():
        if q["type"] == "scored_scale" and isinstance(q.get("answer"), dict):
            return {q["id"]: {**q["answer"], "evidence": f"Board minutes, revision {n}"}}
    if {"wte_medical", "wte_total"} <= questions.keys():
        return {"wte_medical": f"{n}.5", "wte_total": f"{n}.5"}
    return {}


def _said(r: Any) -> str:
    return "no answer" if r is None else f"{r.status_code} {r.text[:200]}"


async def roll(cluster: Cluster, service: str, env: dict[str, str], drop: tuple[str, ...]) -> float:
    """One Deployment rolled to a release: each replica in turn stopped, given the release's
    settings and started, then left serving for `DWELL` seconds; the seconds it took."""
    started = time.monotonic()
    for replica in cluster.replicas[service]:
        await asyncio.to_thread(replica.stop)
        _release(replica, env, drop)
        replica.start()
        await asyncio.to_thread(replica.wait_ready, 300)  # slow on a loaded machine
        await asyncio.sleep(DWELL)
    return time.monotonic() - started


def _release(replica: Replica, env: dict[str, str], drop: tuple[str, ...]) -> None:
    for name in drop:
        replica.env.pop(name, None)
    replica.env.update(env)


async def written_versions(db: Any) -> Check:
    rows = await db["questionnaire"].fetch(
        "SELECT version, count(*) AS n FROM events WHERE type = $1 GROUP BY version", EVENT
    )
    written = {r["version"]: r["n"] for r in rows}
    holds = written.get(1, 0) > 0 and written.get(2, 0) > 0
    detail = ", ".join(f"v{v}: {n}" for v, n in sorted(written.items()))
    return Check("both versions written", holds, detail)


def rehearse_upgrade(directory: Path) -> tuple[list[Check], str]:
    """Extract the old release, start every replica on it, roll twice and check."""
    release = old_release(directory / "old-release")
    say(f"old release: commit {release.commit[:12]}")
    old_env = {**REHEARSAL_ENV, "PYTHONPATH": release.pythonpath}
    with Cluster.started(directory / "cluster", replicas=REPLICAS, extra_env=old_env) as cluster:
        # The new release is the workspace's own code: the PYTHONPATH the rehearsal runs with.
        new_env = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
        drop = () if new_env else ("PYTHONPATH",)
        return asyncio.run(_rehearse(cluster, release, new_env, drop))


async def _rehearse(
    cluster: Cluster, release: OldRelease, new_env: dict[str, str], drop: tuple[str, ...]
) -> tuple[list[Check], str]:
    accepted = Accepted()
    urls = {s: cluster.url(s) for s in SERVICES}
    api = Api(urls, (cluster.settings.keys_dir / "auth-private.pem").read_bytes(), accepted)
    started = time.monotonic()
    took: dict[str, float] = {}
    try:
        await open_cycle(api)
        inbox = Inbox(cluster.settings.mail_dir)
        organisations = [
            Organisation(api, code, i, SCALES["small"], inbox)
            for i, code in enumerate(organisation_codes(ORGANISATIONS))
        ]

        async def answered(org: Organisation) -> list[str]:
            if not await org.register():
                return []
            owed = [q["id"] for q in await org.owed()]
            for qid in owed:
                await org.answer(qid, org.lead, "")
            return owed

        owed = await asyncio.gather(*(answered(o) for o in organisations))
        churn = Churn(api, {qid: org.lead for org, ids in zip(organisations, owed) for qid in ids})
        say(f"{len(churn.questionnaires)} questionnaires answered on the old release")
        churning = asyncio.create_task(churn.run())
        await asyncio.sleep(DWELL)
        rolls = (("expand", new_env, SERVICES), ("switch", {**new_env, **SWITCH_ENV}, WRITERS))
        for phase, env, services in rolls:
            churn.phase = phase
            began = time.monotonic()
            await asyncio.gather(*(roll(cluster, s, env, drop) for s in services))
            took[phase] = time.monotonic() - began
            say(f"{phase} roll done in {took[phase]:.0f} s")
        churn.phase = "new release"
        await asyncio.sleep(DWELL)
        churn.stop.set()
        await churning
        for org, ids in zip(organisations, owed, strict=True):
            for qid in ids:
                await org.submit(qid)
            if ids and all(qid in accepted.submitted for qid in ids):
                await org.sign_off()
        driven = time.monotonic() - started
        say(f"driven in {driven:.0f} s; checking")
        admin = api.headers("national-admin")
        db = await pools(cluster)
        try:
            saved = ", ".join(f"{p} {n}" for p, n in churn.saves.items())
            checks = [
                old_code_runs_from_its_tree(release),
                old_release_cannot_read_v2(release),
                schema_check_accepts(release),
                Check(
                    "every save answered across both rolls",
                    not churn.failures and len(churn.saves) >= 3,
                    f"saves by phase: {saved}"
                    + (
                        f"; {len(churn.failures)} failed: {churn.failures[:3]}"
                        if churn.failures
                        else ""
                    ),
                ),
                await guarded("everything published and projected", quiesce(cluster, db, 300)),
                await guarded(
                    "projections equal a rebuild", projections_equal_rebuild(cluster, db, admin)
                ),
                await guarded("no dead letters", no_dead_letters(db)),
                await guarded("every stream verifies", asyncio.to_thread(streams_verify, cluster)),
                await guarded("nothing 2xx missing", accepted_is_stored(db, accepted)),
                await guarded("both versions written", written_versions(db)),
            ]
        finally:
            for pool in db.values():
                await pool.close()
    finally:
        await api.close()
    figures = (
        f"rolling upgrade from {release.commit[:12]}: {sum(REPLICAS.values())} replicas"
        f" ({', '.join(f'{s} {n}' for s, n in REPLICAS.items())}); driven in {driven:.0f} s;"
        f" expand roll {took.get('expand', 0):.0f} s, switch roll {took.get('switch', 0):.0f} s;"
        f" {len(accepted.signed_off)} of {ORGANISATIONS} returns signed off;"
        f" {accepted.retried} requests retried"
    )
    return checks, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csm-rehearsal-upgrade-") as tmp:
        checks, figures = rehearse_upgrade(Path(tmp))
    print(table(checks))
    print(figures)
    sys.exit(0 if all(c.holds for c in checks) else 1)


if __name__ == "__main__":
    main()
