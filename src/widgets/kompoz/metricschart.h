// SPDX-License-Identifier: MIT
#pragma once

//! \file metricschart.h
//! A painted live chart of a RollingMetrics: outcomes per second, stacked, with the p90 latency
//! as a line and, when a breaker is given, its state as a band behind them. No Qt Charts (GPL-3).

#include <kompoz/kompozwidgets_export.h>
#include <kompoz/types.h>

#include <QPointer>
#include <QWidget>

#include <array>

namespace kompoz {

class CircuitBreaker;
class RollingMetrics;

//! Repaints once a second, when a second completes (the samples it shows never change after
//! that), however many runs are recorded.
class KOMPOZWIDGETS_EXPORT MetricsChart : public QWidget
{
    Q_OBJECT
    Q_PROPERTY(int seconds READ seconds WRITE setSeconds)

public:
    explicit MetricsChart(RollingMetrics *metrics, CircuitBreaker *breaker = nullptr,
                          QWidget *parent = nullptr);
    ~MetricsChart() override;

    //! How many seconds the chart spans (default: the metrics' history, at most 120).
    int seconds() const { return m_seconds; }
    void setSeconds(int seconds);
    CircuitBreaker *breaker() const;
    //! The breaker whose state the band shows from now on (nullptr: no band); the seconds
    //! already noted keep theirs.
    void setBreaker(CircuitBreaker *breaker);

    //! Remembers that the breaker was in `state` during the metrics' second `second`; the band
    //! shows the most severe state of each second (Open over Half-open over Closed).
    void noteState(qint64 second, kompoz::CircuitState state);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

public Q_SLOTS:
    //! Repaints if a second completed since the last paint.
    void tick();

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    static constexpr int kStates = 128;
    QPointer<RollingMetrics> m_metrics;
    QPointer<CircuitBreaker> m_breaker;
    int m_seconds = 60;
    qint64 m_paintedSecond = -1;
    std::array<qint64, kStates> m_stateSecond;
    std::array<CircuitState, kStates> m_state;
};

} // namespace kompoz
