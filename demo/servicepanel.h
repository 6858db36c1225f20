// SPDX-License-Identifier: MIT
#pragma once

//! \file servicepanel.h
//! One simulated service on the dashboard: its guarded call
//! withMetrics(rateLimited(retry(circuitBreaker(withTimeout(limited(call)))))), the rate limit
//! and the retry optional (left out while off), the library's live card for it, and the
//! controls a person turns (the service's behaviour and every resilience setting, live).
//!
//! The breaker, timeout and pool change their settings in place. The rate limiter's and the
//! retry's settings are CONSTANT, and a breaker's mode (consecutive count or failure ratio) is
//! fixed when it is made: changing those rebuilds the layers above the change around the same
//! objects below it, and pipelineChanged() hands the new measured() to the load generator. Runs
//! already under way finish in the chain they started in. The metrics object never changes;
//! the breaker only for a change of mode, and its state and counts move to the new one
//! (saveState()/restoreState()).

#include "simulator.h"

#include <kompoz/kompoz.h>

#include <QFrame>

#include <mutex>
#include <optional>

class QAbstractButton;
class QComboBox;
class QGridLayout;
class QLabel;
class QPushButton;
class QSlider;
class QSpinBox;

namespace kompoz {
class CircuitBreakerView;
}

struct ServiceConfig
{
    QString name; //!< also the panel's and the breaker's objectName
    QString poolName; //!< empty: a pool of its own; services with the same name share one
    int maxConcurrent = 32;
    int timeoutMs = 300;
    int failureThreshold = 5;
    int recoveryMs = 5000;
    int halfOpenMaxCalls = 1;
    int failureRate = 2;
    int latencyMedianMs = 40;
    int latencySpreadMs = 15;
    int retryAttempts = 1; //!< 1: no retry
    int ratePerSecond = 0; //!< 0: no rate limit
    int rateQueueLimit = 20;
};

//! The guarded call's way to its service. The panel cuts it when it goes: a run that a retry
//! delay or a rate-limit queue held past that point finds no service (its call fails at once),
//! not a dangling pointer. Thread-safe.
class ServiceLink
{
public:
    explicit ServiceLink(SimulatedService *service) : m_service(service) { }
    QFuture<bool> call();
    void cut();

private:
    std::mutex m_mutex;
    SimulatedService *m_service; // guarded by m_mutex
};

class ServicePanel : public QFrame
{
    Q_OBJECT

public:
    //! How the breaker decides to open.
    enum class BreakerMode { ConsecutiveFailures, FailureRatio };

    ServicePanel(const ServiceConfig &config, std::shared_ptr<Simulator> simulator,
                 QWidget *parent = nullptr);
    ~ServicePanel() override;

    QString name() const { return objectName(); }
    SimulatedService *service() const { return m_service; }
    const kompoz::AsyncCircuitBreaker<int> &breaker() const { return m_breaker; }
    const kompoz::AsyncTimeout<int> &timeout() const { return m_timeout; }
    const kompoz::AsyncLimited<int> &limited() const { return m_limited; }
    //! The retry's counts; nullptr while retry is off.
    kompoz::RetryPolicy *retryPolicy() const;
    //! The rate limiter; nullptr while the rate limit is off.
    kompoz::RateLimiter *rateLimiter() const;
    BreakerMode breakerMode() const;
    //! What the load generator calls: the whole guarded chain, measured. A new handle after
    //! pipelineChanged(); its metrics() stay the same object.
    const kompoz::AsyncMeasured<int> &measured() const { return m_measured; }
    kompoz::CircuitBreakerView *view() const { return m_view; }

    //! Turns the controls (so a scripted run shows what it does); the controls apply the values.
    void setFailureRate(int percent);
    void setLatency(int medianMs, int spreadMs);
    void setOutage(bool on);
    void setHang(bool on);
    void setBreakerSettings(int failureThreshold, int recoveryMs, int halfOpenMaxCalls);
    void setTimeoutMs(int ms);
    void setMaxConcurrent(int maxConcurrent);
    void setRetryAttempts(int attempts);
    void setRateLimit(int permitsPerSecond, int queueLimit);
    void setBreakerMode(BreakerMode mode, int ratioPercent = 50);
    void setBreakerDisabled(bool disabled);
    //! Clicks Isolate (on) or un-isolates it (off, CircuitBreaker::reset()).
    void setIsolated(bool isolated);

Q_SIGNALS:
    //! measured() is a new chain: send new runs there.
    void pipelineChanged();
    //! The current breaker's transitioned(), whichever breaker that is.
    void breakerTransitioned(kompoz::CircuitState from, kompoz::CircuitState to);

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QWidget *buildControls(const ServiceConfig &config);
    void buildBreakerControls(QGridLayout *grid, QWidget *controls);
    void syncFromLibrary();
    void bindBreaker();
    void replaceBreaker();
    //! Makes the chain anew above the breaker: a new retry layer if `newRetry`, a new rate
    //! limiter if `newRateLimiter`, otherwise the same objects around the new inner chain.
    void rebuildPipeline(bool newRetry, bool newRateLimiter);

    SimulatedService *m_service;
    std::shared_ptr<ServiceLink> m_link; // before the combinators, which call through it
    kompoz::AsyncLimited<int> m_limited;
    kompoz::AsyncTimeout<int> m_timeout;
    kompoz::AsyncCircuitBreaker<int> m_breaker;
    std::optional<kompoz::AsyncRetry<int>> m_retry;
    std::shared_ptr<kompoz::RateLimiter> m_rateLimiter;
    kompoz::AsyncMeasured<int> m_measured;
    kompoz::CircuitBreakerView *m_view = nullptr;
    QSlider *m_failureRate = nullptr;
    QLabel *m_failureRateText = nullptr;
    QSpinBox *m_median = nullptr, *m_spread = nullptr;
    QAbstractButton *m_outage = nullptr, *m_hang = nullptr;
    QSpinBox *m_threshold = nullptr, *m_recovery = nullptr, *m_halfOpen = nullptr;
    QSpinBox *m_timeoutMs = nullptr, *m_maxConcurrent = nullptr;
    QSpinBox *m_rateLimit = nullptr, *m_rateQueue = nullptr, *m_retryAttempts = nullptr;
    QComboBox *m_mode = nullptr;
    QSpinBox *m_ratio = nullptr;
    QPushButton *m_reset = nullptr, *m_isolate = nullptr;
    QAbstractButton *m_disabled = nullptr;
};
