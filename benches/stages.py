#!/usr/bin/env python3
"""Where the time of one 20-account follow_delete goes, stage by stage.

`bash benches/run.sh --stages` (or `python3 benches/stages.py`) prints a
Markdown section; `bash benches/run.sh` puts it in BENCHMARKS.md.

Instructions come from `valgrind --tool=callgrind` (the same on a busy
machine as on an idle one): each workload runs twice, N1 and N2 times, and a
stage's count per call is the difference of its inclusive counts divided by
N2 - N1, so start-up and warm-up cancel out. Wall times are interleaved:
the workloads run in turn, round after round, and the medians are reported,
once with the process free to use both cores and once pinned to one core.
The fixed-reply server of the call workloads runs in a process of its own,
so that callgrind counts the client alone.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "benches/harness/target/release/stages")
QUICK = "--quick" in sys.argv


def build():
    subprocess.run(
        ["cargo", "build", "--release", "--manifest-path",
         os.path.join(ROOT, "benches/harness/Cargo.toml"), "--bin", "stages"],
        check=True, stdout=sys.stderr)


def profile(mode, n, base, out):
    """Runs MODE n times under callgrind; {function: inclusive Ir}."""
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         BIN, "count", mode, str(n), base],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
        check=True, capture_output=True, text=True).stdout
    costs = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if name.startswith("PROGRAM TOTALS"):
            costs["TOTAL"] = ir
            continue
        # "file:function [object]"
        name = re.sub(r"\s+\[[^\]]*\]$", "", name)
        name = name.split(":", 1)[1] if ":" in name and not name.startswith("<") else name
        if name.startswith("???:"):
            name = name[4:]
        costs[name] = costs.get(name, 0) + ir
    return costs


def per_call(mode, base, tmp, n1, n2):
    a = profile(mode, n1, base, os.path.join(tmp, f"{mode}.{n1}"))
    b = profile(mode, n2, base, os.path.join(tmp, f"{mode}.{n2}"))
    names = set(a) | set(b)
    return {k: (b.get(k, 0) - a.get(k, 0)) / (n2 - n1) for k in names}


def find(costs, *fragments):
    """The inclusive count of the function whose name holds every fragment."""
    hits = [v for k, v in costs.items() if all(f in k for f in fragments)]
    return max(hits) if hits else 0.0


def timing(rounds, iters, modes, pinned):
    cmd = [BIN, "time", str(rounds), str(iters), "thread", *modes]
    if pinned:
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {m: (float(us), float(r)) for m, us, r in (l.split() for l in out.splitlines())}


def ureq_rows(c):
    post = find(c, "tim_follow::transport::post")
    if not post and find(c, "tim_follow::client::run::Engine::post"):
        # transport::post inlined into the engine's attempt, which builds the URL first.
        post = (find(c, "tim_follow::client::run::Engine::post")
                - find(c, "tim_follow::request::Context::url"))
    post = post or find(c, "tim_follow_bench::ureq_post")
    call = find(c, "ureq::request::do_call")
    read = find(c, "ureq::body::BodyWithConfig::read_to_vec")
    write = find(c, "state::SendRequest>>::write") + find(c, "ureq::run::send_body")
    return {
        "build": post - call - read,
        "write": write,
        "head": call - write,
        "read": read,
    }


def main():
    if not shutil.which("valgrind"):
        print("valgrind is not installed here: the stage table was not measured.")
        return
    build()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([BIN, "serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    base = server.stdout.readline().strip()
    calls = (100, 600) if QUICK else (200, 1200)
    pieces = (500, 1500) if QUICK else (1000, 3000)
    with tempfile.TemporaryDirectory() as tmp:
        client = per_call("client", base, tmp, *calls)
        paced = per_call("client_paced", base, tmp, *calls)
        bare = per_call("bare", base, tmp, *calls)
        work = per_call("bare_work", base, tmp, *calls)
        alone = {m: per_call(m, base, tmp, *pieces)["TOTAL"]
                 for m in ["validate", "url", "body", "parse", "sans", "floor",
                           "floor_url_body", "floor_parse"]}
    server.stdin.close()
    server.wait()

    rounds = 5 if QUICK else 15
    free = timing(rounds, 1000 if QUICK else 2000,
                  ["bare", "client", "bare_work", "client_paced", "bare_spin"], False)
    pinned = timing(rounds, 1000 if QUICK else 2000,
                    ["bare", "client", "bare_work", "client_paced", "bare_spin"], True)
    pieces_us = timing(rounds, 2000 if QUICK else 5000,
                       ["floor", "sans", "validate", "url", "body", "parse",
                        "floor_url_body", "floor_parse", "spin"], False)

    def stages(c, ours):
        u = ureq_rows(c)
        rows = {}
        if ours:
            rows["ids"] = find(c, "tim_follow::client::batch::distinct_valid")
            rows["url"] = find(c, "tim_follow::request::Context::url")
            rows["body"] = find(c, "tim_follow::request::", "batch_body")
            rows["sig"] = find(c, "tim_follow::signer::Signer::current")
            rows["limit"] = find(c, "tim_follow::client::run::Engine::pace")
        elif find(c, "tim_follow_bench::floor_request"):
            rows["url"] = find(c, "tim_follow_bench::floor_request")
        rows.update(u)
        parse = (find(c, "tim_follow::reply::parse_batch") if ours
                 else find(c, "stages::floor_parse"))
        if parse:
            rows["parse"] = parse
        if ours:
            rows["merge"] = find(c, "tim_follow::outcome::merge")
        rows["total"] = c["TOTAL"]
        rows["rest"] = c["TOTAL"] - sum(v for k, v in rows.items() if k != "total")
        return rows

    sc, sp, sb, sw = stages(client, True), stages(paced, True), stages(bare, False), stages(work, False)
    labels = [
        ("ids", "account ids: validation, repeats dropped"),
        ("url", "URL (query, UserSig percent-encoding)"),
        ("body", "JSON body"),
        ("sig", "UserSig look-up (fixed, or the SecretKey's cached one)"),
        ("limit", "rate limiter (none, or local limiter with adaptive pacing)"),
        ("build", "ureq: request built (URI parsed, headers, pool key)"),
        ("write", "ureq: request written to the socket"),
        ("head", "ureq: connection from the pool, timeouts, response head"),
        ("read", "ureq: response body read (capped)"),
        ("parse", "reply parsed (strict items, envelope)"),
        ("merge", "outcomes merged in request order"),
        ("rest", "engine and batch bookkeeping, and the caller's loop"),
        ("total", "**total per call**"),
    ]

    def cell(rows, key):
        if key not in rows:
            return "—"
        return f"{rows[key]:,.0f}"

    print("### 2b. Where the time of one call goes\n")
    print("One 20-account `follow_delete` on loopback against a fixed-reply server in a process of")
    print("its own; every row sends the same bytes (the same URL length, body and headers) and")
    print("reads the same 1,425-byte reply. Instructions per call from callgrind (the difference")
    print(f"between {calls[0]} and {calls[1]} calls, so start-up cancels out), by the inclusive count of")
    print("the function of each stage; \"bookkeeping\" is the rest of the total.")
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "unknown CPU")
    print(f"Measured on {os.cpu_count()} cores ({model}) while other builds were running")
    print(f"(`uptime` at the start: {load}); instruction counts do not depend on the load,")
    print("the µs below do.\n")
    print("| stage | `Client`, limits off, fixed UserSig | `Client` as usually run (SecretKey, 1,000,000/s limit, adaptive) | bare ureq | bare ureq + the same work with serde |")
    print("|---|---:|---:|---:|---:|")
    for key, label in labels:
        if key == "url":
            fourth = f"{sw['url']:,.0f} (URL and body)"
            print(f"| {label} | {cell(sc, key)} | {cell(sp, key)} | — | {fourth} |")
            continue
        print(f"| {label} | {cell(sc, key)} | {cell(sp, key)} | {cell(sb, key)} | {cell(sw, key)} |")

    print(f"""
Per call, `Client` (limits off, fixed UserSig) runs {sc['total']:,.0f} instructions,
{sc['total'] / sw['total']:.2f}× the {sw['total']:,.0f} of bare ureq doing the same work with serde
(target ≤ 0.85×); as usually run, {sp['total']:,.0f} ({sp['total'] / sw['total']:.2f}×).

What the guarantees cost a successful call: every id validated once, repeats
dropped, {sc['ids']:,.0f} instructions; strict replies nothing against serde (the one-pass
reader takes {sc['parse'] / sw['parse']:.0%} of serde's instructions, and what it cannot read goes to
serde); redaction runs only on an error and read-back only after an answer was
lost, so neither costs a successful call anything; a cached UserSig made from
the SecretKey {sp['sig']:,.0f}; the rate limiter with adaptive pacing {sp['limit']:,.0f}.""")
    print("\nThe sans-IO stages alone (a loop of each, instructions per run and interleaved")
    print("median µs; the floor is serde derive structs and `format!`):\n")
    print("| work | instructions | µs |")
    print("|---|---:|---:|")
    for mode, label in [
        ("validate", "21 ids validated"),
        ("url", "URL"),
        ("body", "JSON body of a built request"),
        ("parse", "20-item reply parsed (`FollowDelete::parse`)"),
        ("sans", "tim-follow build + prepare + parse (section 1's work)"),
        ("floor_url_body", "floor: URL and body"),
        ("floor_parse", "floor: reply parsed"),
        ("floor", "floor: URL, body and parse"),
    ]:
        print(f"| {label} | {alone[mode]:,.0f} | {pieces_us[mode][0]:.2f} |")
    print(f"\nInterleaved, the sans-IO work takes {pieces_us['sans'][1] / pieces_us['floor'][1]:.2f}× the floor's time "
          f"(target ≤ 1.1×) and {alone['sans'] / alone['floor']:.2f}× its instructions.\n")

    def rel(t, a, b):
        return t[b][1] / t[a][1]

    print("Whole calls, interleaved (µs per call, median of rounds; throughput relative to bare ureq):\n")
    print("| call | both cores free | vs bare | pinned to one core | vs bare |")
    print("|---|---:|---:|---:|---:|")
    for mode, label in [
        ("bare", "bare ureq, tim-follow's timeouts and headers"),
        ("client", "`Client`, limits off, fixed UserSig"),
        ("client_paced", "`Client` as usually run"),
        ("bare_work", "bare ureq + the same work with serde"),
        ("bare_spin", f"bare ureq + a busy loop of {pieces_us['spin'][0]:.1f} µs, no memory touched"),
    ]:
        print(f"| {label} | {free[mode][0]:.1f} | {1 / rel(free, 'bare', mode):.2f}× | "
              f"{pinned[mode][0]:.1f} | {1 / rel(pinned, 'bare', mode):.2f}× |")
    print(f"\n`Client` against bare ureq doing the same work: {rel(free, 'client', 'bare_work'):.2f}× its throughput "
          f"with both cores free, {rel(pinned, 'client', 'bare_work'):.2f}× pinned (target ≥ 1.05×).")
    added = pinned["bare_work"][0] - pinned["bare"][0]
    added_free = free["bare_work"][0] - free["bare"][0]
    spin_free = free["bare_spin"][0] - free["bare"][0]
    floor_us = pieces_us['floor'][0]
    if abs(added - floor_us) <= 0.3 * floor_us:
        pinned_says = (f"about what that work takes alone ({floor_us:.1f} µs): on one core, "
                       "time adds up like instructions")
    else:
        pinned_says = (f"against the {floor_us:.1f} µs that work takes alone (when other builds "
                       "share the machine, the pinned core is shared too, and the\ndifference "
                       "is as noisy as the rest)")
    print(f"""
**Where the same-work row's extra time goes.** Pinned to one core, bare ureq plus the
serde work takes {added:+.1f} µs over bare ureq, {pinned_says}. With both cores
free, the difference was {added_free:+.1f} µs, and a busy loop of {pieces_us['spin'][0]:.1f} µs that touches no
memory changed the call by {spin_free:+.1f} µs: there, a call's time depends less on its
instructions than on when the client's next request finds the server thread, whether
still running, just asleep or long asleep on the other virtual core (a wake-up across
cores on this virtual machine costs tens of µs, and whether one is paid depends on the
pause between calls, not on what fills it). So the 26 µs between "bare ureq" and "bare ureq +
same work" reported on 2026-11-29 were not serde's: that work costs its own
{pieces_us['floor'][0]:.1f} µs, and the rest was the wake-up pattern of a loop with a pause in it,
which is why the table above counts instructions and the pinned column is the one to
compare clients by.""")


if __name__ == "__main__":
    main()
