// SPDX-License-Identifier: MIT
#pragma once

//! \file servicepanel.h
//! One simulated service on the dashboard: its guarded call
//! withMetrics(circuitBreaker(withTimeout(limited(call)))), the library's live card for it, and
//! the controls a person turns (the service's behaviour and every resilience setting, live).

#include "simulator.h"

#include <kompoz/kompoz.h>

#include <QFrame>

class QAbstractButton;
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
};

class ServicePanel : public QFrame
{
    Q_OBJECT

public:
    ServicePanel(const ServiceConfig &config, std::shared_ptr<Simulator> simulator,
                 QWidget *parent = nullptr);
    ~ServicePanel() override;

    QString name() const { return objectName(); }
    SimulatedService *service() const { return m_service; }
    const kompoz::AsyncCircuitBreaker<int> &breaker() const { return m_breaker; }
    const kompoz::AsyncTimeout<int> &timeout() const { return m_timeout; }
    const kompoz::AsyncLimited<int> &limited() const { return m_limited; }
    //! What the load generator calls: the whole guarded chain, measured.
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

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QWidget *buildControls(const ServiceConfig &config);
    void syncFromLibrary();

    SimulatedService *m_service;
    kompoz::AsyncLimited<int> m_limited;
    kompoz::AsyncTimeout<int> m_timeout;
    kompoz::AsyncCircuitBreaker<int> m_breaker;
    kompoz::AsyncMeasured<int> m_measured;
    kompoz::CircuitBreakerView *m_view = nullptr;
    QSlider *m_failureRate = nullptr;
    QLabel *m_failureRateText = nullptr;
    QSpinBox *m_median = nullptr, *m_spread = nullptr;
    QAbstractButton *m_outage = nullptr, *m_hang = nullptr;
    QSpinBox *m_threshold = nullptr, *m_recovery = nullptr, *m_halfOpen = nullptr;
    QSpinBox *m_timeoutMs = nullptr, *m_maxConcurrent = nullptr;
    QPushButton *m_reset = nullptr;
};
