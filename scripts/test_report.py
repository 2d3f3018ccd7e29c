#!/usr/bin/env python3
"""Summarises a ctest JUnit file (ctest --output-junit): the skipped tests grouped by the reason
they gave (GTEST_SKIP() << reason), then one closing line 'tests: N passed, N failed, N skipped'.

A host that lacks a feature (BFQ weights, huge pages, a cgroup version) skips the tests that need
it; this report is where a reader sees what this run did not cover, and why.
Standard library only: it runs under any python3."""
import collections
import sys
import xml.etree.ElementTree as ET


def skip_reason(output: str) -> str:
    # gtest prints "file:line: Skipped" and then the message, up to "[  SKIPPED ]".
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.endswith(": Skipped"):
            reason = []
            for follow in lines[i + 1:]:
                if follow.startswith("[  SKIPPED ]"):
                    break
                reason.append(follow.strip())
            text = " ".join(r for r in reason if r)
            return text or "(no reason given)"
    return "(skipped without a gtest message)"


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: test_report.py CTEST_JUNIT_XML", file=sys.stderr)
        return 2
    try:
        suite = ET.parse(sys.argv[1]).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"test_report: cannot read {sys.argv[1]}: {e}", file=sys.stderr)
        return 2
    passed, failed = 0, 0
    skipped = collections.defaultdict(list)
    for case in suite.iter("testcase"):
        status = case.get("status")
        if status == "run":
            passed += 1
        elif status == "fail":
            failed += 1
        else:
            out = case.find("system-out")
            skipped[skip_reason(out.text if out is not None and out.text else "")].append(case.get("name"))
    total_skipped = sum(len(v) for v in skipped.values())
    if total_skipped:
        print(f"\nSkipped on this host: {total_skipped} tests, for {len(skipped)} reasons")
        for reason, names in sorted(skipped.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(names):3d}  {reason}")
            for name in sorted(names):
                print(f"         {name}")
    print(f"tests: {passed} passed, {failed} failed, {total_skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
