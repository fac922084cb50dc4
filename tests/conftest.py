"""Session-wide test hooks: the parity table at the end of every run that compared with ddsp 3.7.0, and
the table of ddsp 3.7.0's gin files (works / message) when test_ddsp_gin_files ran.

Parity tests add rows with `request.node.user_properties.append(('parity', {case, error, bound}))`
(tests/parity/conftest.py: `parity_record`). The table lists every case run with its relative error
and bound, then the count and the worst error relative to its bound, so CI logs show both. It is also
written to <pytest basetemp>/parity_report.txt (or to $CLARINET_DDSP_PARITY_REPORT when set).
"""

import os
import pathlib


def _parity_rows(terminalreporter):
    rows = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, 'when', None) != 'call':
                continue
            for name, value in getattr(report, 'user_properties', ()):
                if name == 'parity':
                    rows.append(dict(value, outcome=report.outcome))
    return rows


def _ratio(r):
    """error / bound; a bound of 0 means exact (0 when met); NaN (the case raised) counts as the worst."""
    if r['error'] != r['error']:
        return float('inf')
    if r['bound'] <= 0:
        return 0.0 if r['error'] == 0 else float('inf')
    return r['error'] / r['bound']


def format_parity_table(rows):
    """Text table: case, relative error, bound, error/bound, outcome; then the count and the worst."""
    rows = sorted(rows, key=lambda r: r['case'])
    width = max([len(r['case']) for r in rows] + [4])
    lines = [
        f'{"case":<{width}}  {"rel. error":>10}  {"bound":>8}  {"err/bound":>9}  outcome  note',
        '-' * (width + 44),
    ]
    for r in rows:
        ratio = _ratio(r)
        lines.append(
            f'{r["case"]:<{width}}  {r["error"]:>10.3e}  {r["bound"]:>8.0e}  {ratio:>9.3f}  '
            f'{r["outcome"]:<7}  {r.get("note", "")}'.rstrip()
        )
    worst = max(rows, key=_ratio)
    worst_abs = max(rows, key=lambda r: float('inf') if r['error'] != r['error'] else r['error'])
    failed = sum(r['outcome'] != 'passed' for r in rows)
    accepted = [r for r in rows if 'accepted' in r.get('note', '')]
    lines.append('-' * (width + 44))
    if accepted:
        lines.append(
            f'{len(accepted)} case(s) over the bound vs ddsp, accepted because ours is nearer a '
            f'float64-phase truth than ddsp (ddsp float32 cumsum drift): '
            + ', '.join(r['case'] for r in accepted)
        )
    lines.append(
        f'parity cases run: {len(rows)} ({failed} over bound or failed); '
        f'worst error relative to its bound: {worst["error"]:.3e} / {worst["bound"]:.0e} '
        f'= {_ratio(worst):.3f} ({worst["case"]}); '
        f'largest error: {worst_abs["error"]:.3e} ({worst_abs["case"]})'
    )
    return '\n'.join(lines)


def _parity_tests_not_compared(terminalreporter):
    """Parity-marked tests that errored or failed before recording a row (e.g. no reference env)."""
    ids = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            keywords = getattr(report, 'keywords', {}) or {}
            if (
                'parity' in keywords
                and getattr(report, 'outcome', '') in ('failed', 'error')
                and not any(name == 'parity' for name, _ in getattr(report, 'user_properties', ()))
            ):
                ids.add(report.nodeid)
    return sorted(ids)


def _gin_file_rows(terminalreporter):
    rows = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, 'user_properties', ()):
                if name == 'ddsp_gin' and getattr(report, 'when', None) == 'call':
                    rows[value['file']] = value
    return [rows[k] for k in sorted(rows)]


def _write_gin_file_table(terminalreporter, config):
    """ddsp 3.7.0's gin files (tests/parity/test_ddsp_gin_files.py): works, or the one-line message."""
    rows = _gin_file_rows(terminalreporter)
    if not rows:
        return
    width = max(len(r['file']) for r in rows)
    lines = [f'{r["file"]:<{width}}  {r["outcome"]:<5}  {r["message"]}' for r in rows]
    works = sum(r['outcome'] == 'works' for r in rows)
    lines.append(f'{works} of {len(rows)} gin files of ddsp 3.7.0 work; the others fail with the line shown.')
    table = '\n'.join(lines)
    terminalreporter.write_sep('=', "ddsp 3.7.0's gin files, verbatim")
    terminalreporter.write_line(table)
    factory = getattr(config, '_tmp_path_factory', None)
    if factory is not None:
        path = factory.getbasetemp() / 'ddsp_gin_files.txt'
        path.write_text(table + '\n')
        terminalreporter.write_line(f'gin file table written to {path}')


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    _write_gin_file_table(terminalreporter, config)
    rows = _parity_rows(terminalreporter)
    not_compared = _parity_tests_not_compared(terminalreporter)
    if not rows and not not_compared:
        return
    if not rows:
        terminalreporter.write_sep('=', 'parity with magenta/ddsp 3.7.0')
        terminalreporter.write_line(
            f'parity cases run: 0; {len(not_compared)} parity tests failed or '
            f'errored before comparing (see above; no reference env? '
            f'`make refenv`)'
        )
        return
    table = format_parity_table(rows)
    if not_compared:
        table += (
            f'\n{len(not_compared)} other parity test(s) failed or errored without a measurement: '
            + ', '.join(not_compared)
        )
    terminalreporter.write_sep('=', 'parity with magenta/ddsp 3.7.0 (relative L2 error)')
    terminalreporter.write_line(table)
    target = os.environ.get('CLARINET_DDSP_PARITY_REPORT', '')
    try:
        if not target:
            factory = getattr(config, '_tmp_path_factory', None)
            if factory is None:
                return
            target = str(factory.getbasetemp() / 'parity_report.txt')
        path = pathlib.Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(table + '\n')
        terminalreporter.write_line(f'parity table written to {path}')
    except OSError as e:
        terminalreporter.write_line(f'could not write the parity table to {target}: {e}')
