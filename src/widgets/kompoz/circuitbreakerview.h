// SPDX-License-Identifier: MIT
#pragma once

//! \file circuitbreakerview.h
//! A live card of one guarded service: the breaker's state, mode and stats, its pool and timeout
//! counts, the rolling figures and a chart of the last minute; optionally a row of retry and
//! rate-limit counts.
//! \code
//! auto service = kompoz::withMetrics(kompoz::circuitBreaker(kompoz::withTimeout(
//!         kompoz::limited(call, 8), 2s)));
//! layout->addWidget(new kompoz::CircuitBreakerView(breaker.breaker(), nullptr, service.metrics()));
//! \endcode

#include <kompoz/kompozwidgets_export.h>
#include <kompoz/metricschart.h>
#include <kompoz/statebadge.h>
#include <kompoz/types.h>

#include <QFrame>
#include <QPointer>

class QGridLayout;
class QLabel;
class QTimer;

namespace kompoz {

class CircuitBreaker;
class ConcurrencyPool;
class RateLimiter;
class RetryPolicy;
class RollingMetrics;
class TimeoutPolicy;

//! Binds to the objects' signals and properties (never to private state): the badge follows
//! stateChanged at once; the figures and counts are marked stale by their NOTIFY signals and
//! redrawn at most every refreshInterval() ms (default 100), so the card costs the same at 10
//! and at 10,000 runs a second. Any of the pool, metrics and timeout may be null; the objects
//! must live in a thread with an event loop (the GUI thread, typically) and may die first.
//!
//! Every value a person reads is a QLabel with an objectName: stateBadge, breakerMode (how it
//! opens: "5 failures in a row", "≥ 50 % of 100 calls fail", or isolated / disabled),
//! successCount, failureCount, halfOpenSuccesses, failureRatio, lastFailureTime,
//! lastSuccessTime, rejectedCount, timedOutCount, inFlight, queued, successRate, throughput,
//! p50Latency, p90Latency, p99Latency; and the chart. Once setRetryPolicy() or
//! setRateLimiter() was called (with null too: "off"), two compact rows show retrySetting,
//! retryCount, recoveredCount, exhaustedCount and rateSetting, rateRejectedCount, rateQueued,
//! rateDelayedCount.
class KOMPOZWIDGETS_EXPORT CircuitBreakerView : public QFrame
{
    Q_OBJECT
    Q_PROPERTY(QString title READ title WRITE setTitle)
    Q_PROPERTY(int refreshInterval READ refreshInterval WRITE setRefreshInterval)

public:
    explicit CircuitBreakerView(CircuitBreaker *breaker, ConcurrencyPool *pool = nullptr,
                                RollingMetrics *metrics = nullptr, TimeoutPolicy *timeout = nullptr,
                                QWidget *parent = nullptr);
    ~CircuitBreakerView() override;

    QString title() const;
    void setTitle(const QString &title);
    int refreshInterval() const;
    void setRefreshInterval(int ms);

    CircuitBreaker *breaker() const;
    //! Shows `breaker` from now on (an application that replaced its breaker, say with one of
    //! another mode); the chart keeps the states it noted.
    void setBreaker(CircuitBreaker *breaker);
    RetryPolicy *retryPolicy() const;
    //! Shows the retry row, bound to `policy` (nullptr: "off").
    void setRetryPolicy(RetryPolicy *policy);
    RateLimiter *rateLimiter() const;
    //! Shows the rate-limit row, bound to `limiter` (nullptr: "off").
    void setRateLimiter(RateLimiter *limiter);

    StateBadge *badge() const { return m_badge; }
    MetricsChart *chart() const { return m_chart; }
    //! The label showing the value named `objectName` (see the class comment), or nullptr.
    QLabel *valueLabel(const QString &objectName) const;

public Q_SLOTS:
    //! Redraws the figures now, stale or not.
    void refresh();

private:
    void markStale();
    void tick();
    void updateMode();
    QLabel *addValue(QGridLayout *grid, int row, int column, const QString &caption,
                     const QString &objectName, bool large);
    QLabel *addInlineValue(QGridLayout *grid, int row, int column, const QString &caption,
                           const QString &objectName);
    QWidget *buildPolicyRows();

    QPointer<CircuitBreaker> m_breaker;
    QPointer<ConcurrencyPool> m_pool;
    QPointer<RollingMetrics> m_metrics;
    QPointer<TimeoutPolicy> m_timeout;
    QPointer<RetryPolicy> m_retry;
    QPointer<RateLimiter> m_rateLimiter;
    QLabel *m_title;
    QLabel *m_mode;
    StateBadge *m_badge;
    MetricsChart *m_chart = nullptr;
    QTimer *m_timer;
    bool m_stale = true;
    QLabel *m_successRate, *m_throughput, *m_p50, *m_p90, *m_p99;
    QLabel *m_successCount, *m_failureCount, *m_halfOpenSuccesses, *m_rejectedCount;
    QLabel *m_timedOutCount, *m_inFlight, *m_queued, *m_lastFailure, *m_lastSuccess;
    QLabel *m_failureRatio;
    bool m_windowed = false; // the breaker keeps a window: its failure ratio means something
    QWidget *m_policies = nullptr; // the retry and rate-limit rows, hidden until asked for
    QLabel *m_retrySetting = nullptr, *m_retryCount = nullptr, *m_recoveredCount = nullptr,
           *m_exhaustedCount = nullptr;
    QLabel *m_rateSetting = nullptr, *m_rateRejected = nullptr, *m_rateQueued = nullptr,
           *m_rateDelayed = nullptr;
};

} // namespace kompoz
