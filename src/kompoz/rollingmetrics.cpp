// SPDX-License-Identifier: MIT
#include "rollingmetrics.h"

#include <QTimer>

#include <algorithm>
#include <cmath>

namespace kompoz {

namespace {
constexpr qint64 kNsPerSecond = 1000000000;

qint64 secondOf(const Clock *clock)
{
    const qint64 ns = clock->monotonicNow().count();
    // Floor, not truncation: a ManualClock may in principle sit before its epoch.
    return ns >= 0 ? ns / kNsPerSecond : -((-ns + kNsPerSecond - 1) / kNsPerSecond);
}
} // namespace

int MetricsSample::total() const
{
    int sum = 0;
    for (int c : counts)
        sum += c;
    return sum;
}

RollingMetrics::RollingMetrics(std::chrono::seconds window, std::chrono::seconds history,
                               QObject *parent)
    : LiveObject(parent),
      m_window(window.count() >= 1
                       ? int(window.count())
                       : (detail::throwInvalid("RollingMetrics", "window", "must be at least 1 s"),
                          0)),
      m_history(history.count() >= 1 && history.count() <= 3600
                        ? int(history.count())
                        : (detail::throwInvalid("RollingMetrics", "history",
                                                "must be between 1 s and 3600 s"),
                           0)),
      // The figures read [now - window, now - 1] and samples() [now - history, now - 1] while
      // record() writes `now`; one spare bucket keeps a slow reader off the one being reused.
      m_capacity(std::max(m_window, m_history) + 2),
      m_buckets(new Bucket[size_t(m_capacity)]),
      m_clock(Clock::system()),
      m_startSecond(secondOf(Clock::system())),
      m_timer(new QTimer(this))
{
    if (window.count() > 3600)
        detail::throwInvalid("RollingMetrics", "window", "must be at most 3600 s");
    // Moves the window when no record flushes it (runs stopped): the figures must fall to zero.
    m_timer->setTimerType(Qt::CoarseTimer);
    m_timer->setInterval(500);
    connect(m_timer, &QTimer::timeout, this, &RollingMetrics::refresh);
    m_timer->start();
}

RollingMetrics::~RollingMetrics() = default;

int RollingMetrics::binOf(std::chrono::nanoseconds latency) noexcept
{
    const qint64 ns = latency.count();
    const quint64 us = ns > 0 ? quint64(ns) / 1000 : 0;
    if (us < 8)
        return int(us);
    const int msb = 63 - __builtin_clzll(us);
    const int sub = int((us >> (msb - 3)) & 7);
    return std::min(8 + (msb - 3) * 8 + sub, kBins - 1);
}

double RollingMetrics::binLowerUs(int bin) noexcept
{
    if (bin < 8)
        return bin;
    const int octave = (bin - 8) / 8;
    const int sub = (bin - 8) % 8;
    return std::ldexp(double(8 + sub), octave);
}

double RollingMetrics::percentileMs(const quint64 *bins, quint64 total, double fraction) noexcept
{
    if (total == 0)
        return 0;
    const double target = std::clamp(fraction, 0.0, 1.0) * double(total);
    quint64 below = 0;
    for (int i = 0; i < kBins; ++i) {
        if (bins[i] == 0)
            continue;
        if (double(below + bins[i]) >= target) {
            // Spread the bin's runs evenly across it: better than snapping to an edge.
            const double lower = binLowerUs(i);
            const double upper = binLowerUs(i + 1);
            const double within = (target - double(below)) / double(bins[i]);
            return (lower + within * (upper - lower)) / 1000.0;
        }
        below += bins[i];
    }
    return binLowerUs(kBins) / 1000.0;
}

void RollingMetrics::record(Outcome outcome, std::chrono::nanoseconds latency) noexcept
{
    const qint64 second = secondOf(m_clock.load(std::memory_order_acquire));
    Bucket &bucket = m_buckets[size_t(((second % m_capacity) + m_capacity) % m_capacity)];
    if (bucket.second.load(std::memory_order_acquire) != second)
        rollOver(bucket, second);
    const auto index = size_t(outcome);
    bucket.counts[index].fetch_add(1, std::memory_order_relaxed);
    if (outcome != Outcome::Rejected && outcome != Outcome::Canceled) {
        bucket.latencyNs.fetch_add(quint64(std::max<qint64>(latency.count(), 0)),
                                   std::memory_order_relaxed);
        bucket.bins[size_t(binOf(latency))].fetch_add(1, std::memory_order_relaxed);
    }
    m_totals[index].fetch_add(1, std::memory_order_relaxed);
    countsChanged();
}

void RollingMetrics::rollOver(Bucket &bucket, qint64 second) noexcept
{
    // Once a second per bucket: a lock here keeps two threads from clearing it twice, and the
    // release store publishes the cleared counts before anyone counts into them.
    QMutexLocker lock(&m_rollOverMutex);
    if (bucket.second.load(std::memory_order_relaxed) >= second)
        return; // someone else moved it (or a stalled thread is late: count it in the newer one)
    for (auto &c : bucket.counts)
        c.store(0, std::memory_order_relaxed);
    bucket.latencyNs.store(0, std::memory_order_relaxed);
    for (auto &b : bucket.bins)
        b.store(0, std::memory_order_relaxed);
    bucket.second.store(second, std::memory_order_release);
}

void RollingMetrics::setClock(const Clock *clock)
{
    if (!clock)
        clock = Clock::system();
    QMutexLocker lock(&m_rollOverMutex);
    m_clock.store(clock, std::memory_order_release);
    for (int i = 0; i < m_capacity; ++i) {
        Bucket &bucket = m_buckets[size_t(i)];
        bucket.second.store(-1, std::memory_order_relaxed);
        for (auto &c : bucket.counts)
            c.store(0, std::memory_order_relaxed);
        bucket.latencyNs.store(0, std::memory_order_relaxed);
        for (auto &b : bucket.bins)
            b.store(0, std::memory_order_relaxed);
    }
    for (auto &t : m_totals)
        t.store(0, std::memory_order_relaxed);
    m_startSecond.store(secondOf(clock), std::memory_order_release);
    m_announcedSecond = -1;
}

qint64 RollingMetrics::currentSecond() const
{
    return secondOf(m_clock.load(std::memory_order_acquire));
}

void RollingMetrics::accumulate(qint64 from, qint64 to, Window &out) const
{
    for (qint64 s = from; s <= to; ++s) {
        const Bucket &bucket = m_buckets[size_t(((s % m_capacity) + m_capacity) % m_capacity)];
        if (bucket.second.load(std::memory_order_acquire) != s)
            continue; // nothing was recorded in that second
        for (int i = 0; i < kOutcomes; ++i)
            out.counts[size_t(i)] += bucket.counts[size_t(i)].load(std::memory_order_relaxed);
        for (int i = 0; i < kBins; ++i) {
            const quint64 n = bucket.bins[size_t(i)].load(std::memory_order_relaxed);
            out.bins[size_t(i)] += n;
            out.ran += n;
        }
    }
}

RollingMetrics::Window RollingMetrics::window() const
{
    Window w;
    const qint64 now = currentSecond();
    const qint64 to = now - 1;
    const qint64 from = std::max(now - m_window, m_startSecond.load(std::memory_order_acquire));
    if (to < from)
        return w;
    w.seconds = int(to - from + 1);
    accumulate(from, to, w);
    return w;
}

double RollingMetrics::successRate() const
{
    const Window w = window();
    quint64 counted = 0;
    for (int i = 0; i < kOutcomes; ++i) {
        if (Outcome(i) != Outcome::Canceled)
            counted += w.counts[size_t(i)];
    }
    return counted == 0 ? 1.0 : double(w.counts[size_t(Outcome::Success)]) / double(counted);
}

double RollingMetrics::throughput() const
{
    const Window w = window();
    quint64 total = 0;
    for (quint64 c : w.counts)
        total += c;
    return w.seconds == 0 ? 0.0 : double(total) / w.seconds;
}

double RollingMetrics::latencyPercentileMs(double fraction) const
{
    const Window w = window();
    return percentileMs(w.bins.data(), w.ran, fraction);
}

int RollingMetrics::count(Outcome outcome) const { return int(window().counts[size_t(outcome)]); }

int RollingMetrics::windowCount() const
{
    const Window w = window();
    quint64 total = 0;
    for (quint64 c : w.counts)
        total += c;
    return int(total);
}

qint64 RollingMetrics::totalCount(Outcome outcome) const
{
    return m_totals[size_t(outcome)].load(std::memory_order_relaxed);
}

QList<MetricsSample> RollingMetrics::samples(int seconds) const
{
    const int n = std::clamp(seconds, 0, m_history);
    QList<MetricsSample> out;
    out.reserve(n);
    const qint64 now = currentSecond();
    for (qint64 s = now - n; s < now; ++s) {
        MetricsSample sample;
        sample.second = s;
        const Bucket &bucket = m_buckets[size_t(((s % m_capacity) + m_capacity) % m_capacity)];
        if (bucket.second.load(std::memory_order_acquire) == s) {
            std::array<quint64, kBins> bins;
            quint64 ran = 0;
            for (int i = 0; i < kBins; ++i) {
                bins[size_t(i)] = bucket.bins[size_t(i)].load(std::memory_order_relaxed);
                ran += bins[size_t(i)];
            }
            for (int i = 0; i < kOutcomes; ++i)
                sample.counts[size_t(i)] = int(
                        bucket.counts[size_t(i)].load(std::memory_order_relaxed));
            if (ran > 0) {
                sample.meanLatencyMs = double(bucket.latencyNs.load(std::memory_order_relaxed)) /
                        double(ran) / 1e6;
                sample.p90LatencyMs = percentileMs(bins.data(), ran, 0.90);
            }
        }
        out.append(sample);
    }
    return out;
}

void RollingMetrics::refresh()
{
    // The figures only move when a second completes: between two, a flush costs a clock read.
    const qint64 now = currentSecond();
    if (now == m_announcedSecond)
        return;
    const bool first = m_announcedSecond < 0;
    m_announcedSecond = now;
    const Window w = window();
    const bool changed = first || w.counts != m_announcedCounts || w.bins != m_announcedBins ||
            w.seconds != m_announcedSeconds;
    if (!changed)
        return;
    m_announcedCounts = w.counts;
    m_announcedBins = w.bins;
    m_announcedSeconds = w.seconds;
    Q_EMIT figuresChanged();
}

void RollingMetrics::flushCounts() { refresh(); }

} // namespace kompoz
