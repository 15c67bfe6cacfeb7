"""A job's summary: runs in the job. `results.json` (every task's TaskResult.to_json() and the
rolled-up result) and `report.txt` (the same as a table) in the job's log directory."""

import json
import os

from pynwheel.tasks import results


def rolled_up(task_results):
    return results.rollup(r.result for r in task_results)


def write(log_dir, task_results, interrupted=False):
    """(results.json path, report.txt path)."""
    os.makedirs(log_dir, exist_ok=True)
    total = rolled_up(task_results)
    data = {"result": total.code, "interrupted": interrupted, "tasks": [r.to_json() for r in task_results]}
    json_path = os.path.join(log_dir, "results.json")
    with open(json_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, default=repr)
        f.write("\n")
    os.replace(json_path + ".tmp", json_path)
    report_path = os.path.join(log_dir, "report.txt")
    with open(report_path, "w", encoding="utf-8") as f:
        f.write(report(task_results, interrupted))
    return json_path, report_path


def report(task_results, interrupted=False):
    """The readable table: one line per task (id, result, duration, log), then the roll-up."""
    rows = [("task", "result", "duration", "log")]
    rows += [(r.taskid, str(r.result) if r.reason is None else "%s (%s)" % (r.result, r.reason), "%.3f s" % r.duration,
              r.log_path or "") for r in task_results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    counts = {}
    for r in task_results:
        counts[r.result.code] = counts.get(r.result.code, 0) + 1
    lines.append("")
    lines.append("result: %s (%d task%s%s%s)" % (rolled_up(task_results), len(task_results), "" if len(task_results) == 1 else "s",
                                             "".join(", %d %s" % (counts[name], name) for name in results.NAMES if name in counts),
                                             "; the job was interrupted" if interrupted else ""))
    return "\n".join(line.rstrip() for line in lines) + "\n"
