// SPDX-License-Identifier: MIT
#pragma once

//! \file harness.h
//! kompoz-bench's own harness: every workload runs beside its baseline in one process, the
//! repetitions interleaved (baseline, variant, baseline, variant, ...), so that the ratio and
//! the difference are taken between runs made seconds apart on the same noisy machine. A
//! separate pass, not timed, counts what one call allocates (heap blocks, QFuture states,
//! QObjects) through a replaced operator new and Qt's object hooks.

#include <QJsonArray>
#include <QJsonObject>
#include <QString>

#include <chrono>
#include <functional>
#include <vector>

namespace bench {

using SteadyClock = std::chrono::steady_clock;

inline qint64 nsSince(SteadyClock::time_point t0)
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - t0).count();
}

//! CPU time of the whole process (every thread, the library's timer thread included), in ns.
qint64 processCpuNs();

//! The start of a timed region: wall clock and process CPU time.
struct Start
{
    SteadyClock::time_point wall;
    qint64 cpu;
};
inline Start clockStart() { return {SteadyClock::now(), processCpuNs()}; }
//! Ends a timed region: returns the wall ns, and keeps the CPU ns for lastCpuNs(). On a shared
//! machine wall time also counts the time other processes held the cores; CPU time does not.
qint64 nsSince(const Start &start);
qint64 lastCpuNs();

//! Stops the process with a message when a workload did not do what it says (the peers
//! script's assert()).
void require(bool condition, const char *what);

//! Current and peak resident set of this process, from /proc/self/status (KiB).
qint64 rssKb();
qint64 peakRssKb();

//! What the code between begin() and end() allocated (only counted inside that window).
struct Probe
{
    qint64 allocations = 0; //!< operator new calls
    qint64 heapPeakBytes = 0; //!< highest live heap above the level at begin()
    qint64 futureStates = 0; //!< QFutureInterfaceBase shared states made (QPromise, then(), ...)
    qint64 qobjectsPeak = 0; //!< highest number of QObjects alive above the level at begin()
    qint64 qobjectsMade = 0;
};
void probeBegin();
Probe probeEnd();

//! One line of a group: a workload on one path, or the baseline it is compared with.
struct Variant
{
    QString id; //!< "W1.future.ready"
    QString label; //!< "W1 breaker, QFuture path, ready task"
    QString baseline; //!< id of the variant it is compared with; empty for a baseline
    qint64 n = 0; //!< calls (sequential) or runs (burst) per repetition
    //! Runs `n` calls, returns the elapsed ns; fills `checks` (what was verified).
    std::function<qint64(qint64 n, QJsonObject &checks)> run;
    qint64 probeN = 0; //!< calls in the counting pass (0: n)
};

struct GroupOptions
{
    int reps = 5;
    bool warmup = true;
    qint64 warmupN = 0; //!< 0: the variant's n
};

//! Warm-up, `reps` interleaved timed repetitions, then one counting pass per variant. Returns
//! one JSON object per variant (see README.md for the fields).
QJsonArray runGroup(const QString &group, const std::vector<Variant> &variants,
                    const GroupOptions &options);

//! Median of a list (the mean of the two middle values for an even count).
double median(std::vector<double> values);

} // namespace bench
