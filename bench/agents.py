#!/usr/bin/python3
"""Section 30: convergence of DAP-SVRG against the number of agents, and with injected delay.

The coordinator and 1, 2, 4, 8 agent processes on loopback (the shards K/N of one file), then
the 4-agent run again with every agent holding back each message it sends for 50 ms with
probability P (--fault-delay, docs/reliability.md). Epochs and data passes (gradient passes +
inner-step rows / n) to (P - P*)/P* <= 1e-6; the chart is log-suboptimality against epochs,
as in the DAP-SVRG paper. Each configuration runs twice: inner loops only (--newton-max-support 0,
DAP-SVRG as the paper has it) and with the default Newton epochs (docs/algorithm.md). Writes bench/out/agents-NAME.json, bench/agents-NAME.svg and
bench/out/30-agents.md.
Usage: bench/agents.py [spam|fmnist]   (default spam)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import runs  # noqa: E402

AGENTS = [1, 2, 4, 8]
DELAY = {"agents": 4, "p": 0.002}
ARGS = {"spam": ["--batch", "8"], "fmnist": ["--batch", "8"]}  # as in time_to_accuracy.py
FIRST_ORDER = ["--newton-max-support", "0"]
TIME_LIMIT = {"spam": 150, "fmnist": 240}
MAX_EPOCHS = {"spam": 200, "fmnist": 60}


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "spam"
    pstar = common.reference()[name]["pstar"]
    results = []
    configs = [(k, 0.0) for k in AGENTS] + [(DELAY["agents"], DELAY["p"])]
    for newton in (False, True):
        for agents, delay in configs:
            label = "%d agent%s" % (agents, "s" if agents > 1 else "") + (
                ", delay p=%g" % delay if delay else "") + (", Newton epochs" if newton else ", inner loops only")
            print("==>", name, label, flush=True)
            extra = ["--fault-delay", repr(delay), "--fault-seed", "7"] if delay else []
            r = runs.distributed(name, pstar, agents, ARGS[name] + ([] if newton else FIRST_ORDER), extra,
                                 time_limit=TIME_LIMIT[name], max_epochs=MAX_EPOCHS[name])
            r.update({"label": label, "agents": agents, "delay": delay, "newton": newton})
            results.append(r)
    common.save_json("agents-" + name, results)

    plt = common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 3.6))
    for i, r in enumerate(results):
        pts = [p for p in r["trace"] if p["rel"] > 0]
        style = "--" if r["delay"] else "-"
        color = "C%d" % (i % len(configs))  # the same colour for a configuration with and without Newton
        marker = "x" if r["newton"] else "."
        axes[0].plot([p["epoch"] for p in pts], [p["rel"] for p in pts], style, color=color, marker=marker,
                     markersize=3, linewidth=1, label=r["label"])
        axes[1].plot([p["fit"] for p in pts], [p["rel"] for p in pts], style, color=color, marker=marker,
                     markersize=3, linewidth=1, label=r["label"])
    for ax, xlabel in zip(axes, ["epoch", "training time (s)"]):
        ax.set_yscale("log")
        ax.axhline(1e-6, color="#bbbbbb", linewidth=0.6, linestyle=":")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("(P - P*) / P*")
        ax.legend(fontsize=5.5)
    fig.suptitle("DAP-SVRG, coordinator + N agents on loopback: %s, lambda = %g" % (
        common.DATASETS[name]["title"], common.DATASETS[name]["lam"]), fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    svg = common.save_svg(fig, "agents-" + name)

    lines = ["## Convergence vs. agents", "",
             "Coordinator + N agent processes on one machine (loopback, plain text), the rows split into "
             "N shards; %s, λ = %g. *Passes*: gradient passes + inner-step rows / n + one per Hessian block "
             "(Newton epochs, docs/algorithm.md; *inner loops only* is DAP-SVRG as the paper has it, "
             "`--newton-max-support 0`). With delay: each "
             "agent holds back each message it sends for 50 ms with probability p (`--fault-delay`). "
             "Note: on this 2-core machine N agents share 2 cores, so the time column measures "
             "contention, not scaling; epochs and passes are the algorithmic measure." % (
                 common.DATASETS[name]["title"], common.DATASETS[name]["lam"]), "",
             "![convergence vs agents](%s)" % svg, "",
             "| run | epochs to 1e-6 | passes to 1e-6 | training time to 1e-6 | last snapshot (epoch, rel) | stop |",
             "|---|---|---|---|---|---|"]
    for r in results:
        hit = next((p for p in r["trace"] if p["rel"] <= 1e-6), None)
        last = r["trace"][-1] if r["trace"] else None
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            r["label"], hit["epoch"] if hit else "—", "%.1f" % hit["passes"] if hit else "—",
            common.fmt_s(hit["fit"]) if hit else "—",
            "%d, %.1e" % (last["epoch"], last["rel"]) if last else "—", r["finished"].get("reason", "?")))
    lines += ["", "Command (N agents, inner loops only): `%s`" % results[0]["command"],
              "", "Command (N agents, Newton epochs): `%s`" % results[len(configs)]["command"]]
    common.write_fragment("30-agents", "\n".join(lines))


if __name__ == "__main__":
    main()
