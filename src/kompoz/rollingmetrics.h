// SPDX-License-Identifier: MIT
#pragma once

//! \file rollingmetrics.h
//! Rolling-window figures of a combinator's runs (calls per second by outcome, success rate,
//! throughput, latency percentiles) in a QObject any application can read or bind to, and the
//! combinator that records into it.
//! \code
//! auto service = kompoz::withMetrics(kompoz::circuitBreaker(kompoz::withTimeout(call, 2s)));
//! QObject::connect(service.metrics(), &kompoz::RollingMetrics::figuresChanged, label, [&] {
//!     label->setText(QString::number(service.metrics()->successRate() * 100) + u'%');
//! });
//! \endcode

#include <kompoz/asynccombinator.h>
#include <kompoz/clock.h>
#include <kompoz/liveobject.h>

#include <QList>
#include <QMutex>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>

class QTimer;

namespace kompoz {

//! What happened in one second: counts by outcome and the latency of the runs that ran.
struct KOMPOZ_EXPORT MetricsSample
{
    qint64 second = 0; //!< the clock's monotonic second (comparable with currentSecond())
    std::array<int, 6> counts {}; //!< indexed by int(Outcome)
    double meanLatencyMs = 0; //!< 0 when nothing ran in that second
    double p90LatencyMs = 0; //!< 0 when nothing ran in that second

    int count(Outcome outcome) const { return counts[size_t(outcome)]; }
    int total() const;
};

//! Counts and latencies of runs in per-second buckets, kept for `history` seconds; the figures
//! (rates, percentiles, counts) cover the last `window` completed seconds.
//!
//! record() is lock-free on the hot path and allocates nothing: a few relaxed atomic increments
//! in the current second's bucket, whose latency histogram has 8 log-scale bins per octave
//! (about 9 % wide, so percentiles are within about 5 %). Latency is only kept for runs that
//! ran (not for Rejected or Canceled ones: they would pull the percentiles towards zero).
//!
//! The figures move once a second (they cover completed seconds, so they do not flicker with
//! a half-filled bucket), and figuresChanged() is emitted in the object's thread when they
//! changed: after records (coalesced, see LiveObject) and from a coarse timer when runs stop.
//! Thread-safe.
class KOMPOZ_EXPORT RollingMetrics : public LiveObject
{
    Q_OBJECT
    Q_PROPERTY(int windowSeconds READ windowSeconds CONSTANT)
    Q_PROPERTY(int historySeconds READ historySeconds CONSTANT)
    Q_PROPERTY(double successRate READ successRate NOTIFY figuresChanged)
    Q_PROPERTY(double throughput READ throughput NOTIFY figuresChanged)
    Q_PROPERTY(double p50LatencyMs READ p50LatencyMs NOTIFY figuresChanged)
    Q_PROPERTY(double p90LatencyMs READ p90LatencyMs NOTIFY figuresChanged)
    Q_PROPERTY(double p99LatencyMs READ p99LatencyMs NOTIFY figuresChanged)
    Q_PROPERTY(int windowCount READ windowCount NOTIFY figuresChanged)
    Q_PROPERTY(int successCount READ successCount NOTIFY figuresChanged)
    Q_PROPERTY(int failureCount READ failureCount NOTIFY figuresChanged)
    Q_PROPERTY(int timedOutCount READ timedOutCount NOTIFY figuresChanged)
    Q_PROPERTY(int rejectedCount READ rejectedCount NOTIFY figuresChanged)
    Q_PROPERTY(int errorCount READ errorCount NOTIFY figuresChanged)
    Q_PROPERTY(int canceledCount READ canceledCount NOTIFY figuresChanged)

public:
    //! Throws std::invalid_argument naming the parameter: window < 1 s, history < 1 s,
    //! history > 1 h.
    explicit RollingMetrics(std::chrono::seconds window = std::chrono::seconds(10),
                            std::chrono::seconds history = std::chrono::seconds(60),
                            QObject *parent = nullptr);
    ~RollingMetrics() override;

    //! Records one run that ended now. Any thread; no lock, no allocation.
    void record(Outcome outcome, std::chrono::nanoseconds latency) noexcept;

    //! The clock buckets are read from; nullptr: the real one. Set it before the first record;
    //! the clock must outlive this object. Clears what was recorded.
    void setClock(const Clock *clock);
    const Clock *clock() const { return m_clock.load(std::memory_order_acquire); }
    //! The clock's monotonic second now (the bucket record() would use).
    qint64 currentSecond() const;

    int windowSeconds() const { return m_window; }
    int historySeconds() const { return m_history; }

    //! Success / (all runs but Canceled) over the window; 1 when there were none.
    double successRate() const;
    //! Runs per second over the window (or over the time since the clock was set, if shorter).
    double throughput() const;
    double p50LatencyMs() const { return latencyPercentileMs(0.50); }
    double p90LatencyMs() const { return latencyPercentileMs(0.90); }
    double p99LatencyMs() const { return latencyPercentileMs(0.99); }
    //! The latency below which `fraction` (0..1) of the window's runs ended; 0 with no runs.
    double latencyPercentileMs(double fraction) const;

    //! Runs with `outcome` over the window.
    int count(Outcome outcome) const;
    int windowCount() const; //!< all outcomes
    int successCount() const { return count(Outcome::Success); }
    int failureCount() const { return count(Outcome::Failure); }
    int timedOutCount() const { return count(Outcome::TimedOut); }
    int rejectedCount() const { return count(Outcome::Rejected); }
    int errorCount() const { return count(Outcome::Error); }
    int canceledCount() const { return count(Outcome::Canceled); }

    //! Runs with `outcome` since the clock was set (not windowed).
    qint64 totalCount(Outcome outcome) const;

    //! One sample per completed second, the last `seconds` of them (at most historySeconds()),
    //! oldest first; seconds without runs are zero samples. For charts.
    QList<MetricsSample> samples(int seconds) const;

public Q_SLOTS:
    //! Emits figuresChanged() if the window moved since they were last announced. Called by the
    //! coalesced flush and a coarse timer; call it yourself where the object's thread has no
    //! event loop.
    void refresh();

Q_SIGNALS:
    //! The window's figures (rates, percentiles, counts) changed.
    void figuresChanged();

protected:
    void flushCounts() override;

private:
    static constexpr int kBins = 232; // 8 linear (< 8 us), then 8 per octave up to ~2^31 us
    static constexpr int kOutcomes = 6;
    struct alignas(64) Bucket
    {
        std::atomic<qint64> second {-1};
        std::array<std::atomic<quint32>, kOutcomes> counts {};
        std::atomic<quint64> latencyNs {0};
        std::array<std::atomic<quint32>, kBins> bins {};
    };
    struct Window
    {
        std::array<quint64, kOutcomes> counts {};
        std::array<quint64, kBins> bins {};
        quint64 ran = 0;
        int seconds = 0;
    };

    static int binOf(std::chrono::nanoseconds latency) noexcept;
    static double binLowerUs(int bin) noexcept;
    static double percentileMs(const quint64 *bins, quint64 total, double fraction) noexcept;
    void rollOver(Bucket &bucket, qint64 second) noexcept;
    // Reads the completed seconds [from, to] into `out`; a bucket reused meanwhile reads as 0.
    void accumulate(qint64 from, qint64 to, Window &out) const;
    Window window() const;

    const int m_window;
    const int m_history;
    const int m_capacity; // buckets in the ring: the history, the current second and one spare
    std::unique_ptr<Bucket[]> m_buckets;
    std::array<std::atomic<qint64>, kOutcomes> m_totals {};
    std::atomic<const Clock *> m_clock;
    std::atomic<qint64> m_startSecond; // the first second that counts (when the clock was set)
    QBasicMutex m_rollOverMutex; // only taken when a bucket moves to a new second
    QTimer *m_timer; // object's thread: moves the window when no runs flush it
    // Object's thread only: what figuresChanged() last announced.
    qint64 m_announcedSecond = -1;
    int m_announcedSeconds = 0;
    std::array<quint64, kOutcomes> m_announcedCounts {};
    std::array<quint64, kBins> m_announcedBins {};
};

//! \cond internal
namespace detail {
template<typename T>
class MeasureFrame final : public Sink<T>
{
public:
    MeasureFrame(Sink<T> *parent, Scope *scope, RollingMetrics *metrics,
                 std::chrono::nanoseconds started)
        : m_parent(parent), m_scope(scope), m_metrics(metrics), m_started(started)
    { }
    void complete(Completion<T> &&c) override
    {
        // Recorded before the caller hears of it, as the breaker counts: whoever sees the run
        // finished sees it in the figures.
        const Outcome outcome = m_scope->isCanceled() ? Outcome::Canceled : c.outcome;
        m_metrics->record(outcome, m_metrics->clock()->monotonicNow() - m_started);
        Sink<T> *parent = m_parent;
        delete this;
        parent->complete(std::move(c));
    }

private:
    Sink<T> *m_parent;
    Scope *m_scope;
    RollingMetrics *m_metrics;
    std::chrono::nanoseconds m_started;
};

template<typename T>
class MeasureNode final : public Node<T>
{
public:
    MeasureNode(NodePtr<T> inner, std::shared_ptr<RollingMetrics> metrics)
        : m_inner(std::move(inner)), m_metrics(std::move(metrics))
    { }
    void start(T ctx, Sink<T> *sink, Scope *scope) const override
    {
        auto *frame = new MeasureFrame<T>(sink, scope, m_metrics.get(),
                                          m_metrics->clock()->monotonicNow());
        m_inner->start(std::move(ctx), frame, scope);
    }
    void describe(QString &out) const override
    {
        out += QLatin1String("AsyncMeasured(");
        m_inner->describe(out);
        out += QLatin1String(", window=") + QString::number(m_metrics->windowSeconds()) +
                QLatin1Char(')');
    }

private:
    NodePtr<T> m_inner;
    std::shared_ptr<RollingMetrics> m_metrics;
};
} // namespace detail
//! \endcond

//! A combinator that records how each run of `inner` ended, and how long it took, into
//! metrics(). Put it outermost to see what callers see (rejections and timeouts included).
template<typename T>
class AsyncMeasured : public AsyncCombinator<T>
{
public:
    AsyncMeasured(AsyncCombinator<T> inner, std::shared_ptr<RollingMetrics> metrics)
        : AsyncCombinator<T>(std::make_shared<detail::MeasureNode<T>>(
                  detail::checked(inner, "withMetrics", "inner"), checkedMetrics(metrics))),
          m_metrics(std::move(metrics))
    { }
    //! The QObject with the figures, to read and bind to. Owned by the handles.
    RollingMetrics *metrics() const { return m_metrics.get(); }
    std::shared_ptr<RollingMetrics> sharedMetrics() const { return m_metrics; }

private:
    static const std::shared_ptr<RollingMetrics> &
    checkedMetrics(const std::shared_ptr<RollingMetrics> &m)
    {
        if (!m)
            detail::throwInvalid("withMetrics", "metrics", "is null");
        return m;
    }
    std::shared_ptr<RollingMetrics> m_metrics;
};

//! Records `inner`'s runs into `metrics` (which several combinators may share). Throws
//! std::invalid_argument for an empty `inner` or a null `metrics`.
template<typename T>
AsyncMeasured<T> withMetrics(AsyncCombinator<T> inner, std::shared_ptr<RollingMetrics> metrics)
{
    return AsyncMeasured<T>(std::move(inner), std::move(metrics));
}

//! As above, with a new RollingMetrics (10 s window, 60 s history) made in this thread.
template<typename T>
AsyncMeasured<T> withMetrics(AsyncCombinator<T> inner)
{
    detail::checked(inner, "withMetrics", "inner");
    return AsyncMeasured<T>(std::move(inner), detail::makeShared<RollingMetrics>());
}

} // namespace kompoz

Q_DECLARE_METATYPE(kompoz::MetricsSample)
