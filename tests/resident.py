"""Resident memory of a CLI and its child processes, sampled from outside, and long recordings to feed it.

Shared by tests/test_memory.py (bounded memory on minutes of audio and thousands of tiny steps) and
scripts/benchmark_memory.py (the CPU recipe, and an hour of audio).
"""

from __future__ import annotations

import pathlib
import threading
import time

import numpy as np

MB = 1e6


def anon_rss(pid: int) -> int:
    """The process's anonymous resident memory (its heap: what a leak grows) in bytes, 0 if unknown.

    RSS also counts mapped files (TensorFlow's libraries), which the kernel drops and reloads under memory
    pressure from other processes, so RSS alone can fall or rise by hundreds of MB without the program
    doing anything.
    """
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('RssAnon:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssWatch:
    """Samples the resident memory of a process and its children every interval (in a thread).

    The processes of one tree (prepare's main process and its Beam workers) map the same libraries, whose
    pages are in memory once but in every process's RSS: the sum of their RSS counts TensorFlow's ~450 MB
    of code once per process. What the tree takes from the machine is the sum of their proportional set
    sizes (PSS: each shared page divided among the processes that map it), which is what `peak_total`
    holds; `peak_rss_sum` keeps the plain sum for comparison.
    """

    def __init__(self, pid: int, interval: float = 0.25, abort_bytes: float = 8e9):
        import psutil

        self._root = psutil.Process(pid)
        self.peak_main = 0  # RSS of the process itself
        self.peak_process = 0  # RSS of the largest single process of the tree (a Beam worker, say)
        self.peak_total = 0  # PSS of the process tree together
        self.peak_rss_sum = 0  # RSS of the processes summed (shared libraries counted once per process)
        self.over = False  # the tree passed abort_bytes and was killed, so as not to starve the machine
        self._abort_bytes = abort_bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _processes(self) -> list:
        import psutil

        try:
            return [self._root] + self._root.children(recursive=True)
        except psutil.Error:
            return []

    def sample(self) -> tuple[int, int, int, int]:
        """Bytes: RSS of the process, of the largest process; PSS of the tree, RSS summed over the tree."""
        import psutil

        rss, pss = [], []
        for proc in self._processes():
            try:
                info = proc.memory_full_info()
                rss.append(info.rss)
                pss.append(info.pss)
            except psutil.Error:  # gone meanwhile
                rss.append(0)
                pss.append(0)
        if not rss:
            return 0, 0, 0, 0
        return rss[0], max(rss), sum(pss), sum(rss)

    def _run(self, interval: float) -> None:
        import psutil

        while not self._stop.is_set():
            own, largest, total, rss_sum = self.sample()
            self.peak_main = max(self.peak_main, own)
            self.peak_process = max(self.peak_process, largest)
            self.peak_total = max(self.peak_total, total)
            self.peak_rss_sum = max(self.peak_rss_sum, rss_sum)
            if total > self._abort_bytes and not self.over:
                self.over = True
                for proc in self._processes():
                    try:
                        proc.kill()
                    except psutil.Error:  # already gone
                        pass
            time.sleep(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        return (
            f'peak RSS: main process {self.peak_main / MB:.0f} MB, largest process '
            f'{self.peak_process / MB:.0f} MB; all processes together {self.peak_total / MB:.0f} MB PSS '
            f'({self.peak_rss_sum / MB:.0f} MB as a sum of RSS, shared libraries counted in each)'
        )


def write_notes(path: pathlib.Path, secs: float, rate: int = 48000, channels: int = 2) -> str:
    """Clarinet-like notes as 24-bit WAV, written in 10 s blocks (never the whole recording in memory).

    Every 2 s: a 1.6 s note (odd harmonics, 5 Hz vibrato, 50 ms attack and release) and 0.4 s of silence;
    every 30 s, 3 s of silence (breaths between phrases).
    """
    import soundfile as sf

    block = 10 * rate
    phase = 0.0
    notes = 440.0 * 2 ** ((np.array([50, 53, 55, 57, 60, 62, 65, 67, 69, 72]) - 69) / 12)
    with sf.SoundFile(str(path), 'w', rate, channels, subtype='PCM_24') as f:
        for start in range(0, int(secs * rate), block):
            t = (start + np.arange(min(block, int(secs * rate) - start))) / rate
            f0 = notes[(t // 2).astype(int) % len(notes)] * (1 + 0.004 * np.sin(2 * np.pi * 5 * t))
            phases = phase + 2 * np.pi * np.cumsum(f0) / rate
            phase = float(phases[-1])
            in_note = t % 2
            envelope = np.clip(np.minimum(in_note, 1.6 - in_note) / 0.05, 0.0, 1.0)
            envelope[(t % 30) >= 27] = 0.0
            x = sum(np.sin(k * phases) / k for k in (1, 3, 5, 7)) * 0.25 * envelope
            f.write(np.stack([x] * channels, axis=1) if channels > 1 else x)
    return str(path)
