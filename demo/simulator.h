// SPDX-License-Identifier: MIT
#pragma once

//! \file simulator.h
//! Simulated backends for the dashboard: calls that answer after a random latency, fail at a
//! given rate, all fail (outage) or never answer (hang). One thread keeps every pending call in
//! a deadline queue; a call whose QFuture is cancelled (by a timeout) is dropped within 50 ms,
//! as cooperative work stops when it checks QPromise::isCanceled().

#include <QFuture>
#include <QObject>
#include <QPromise>
#include <QString>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

class Simulator
{
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    Simulator();
    ~Simulator(); // stop()
    //! Stops the thread, then cancels and finishes whatever is still pending, in the calling
    //! thread. Call it while the combinators waiting on the calls still exist. Idempotent.
    void stop();
    Simulator(const Simulator &) = delete;
    Simulator &operator=(const Simulator &) = delete;

    //! A future that gets `ok` at `due` (TimePoint::max(): never, until cancelled).
    QFuture<bool> schedule(TimePoint due, bool ok);
    //! Calls waiting to answer, cancelled ones not yet swept included.
    int pending() const;

private:
    struct Call
    {
        QPromise<bool> promise;
        bool ok;
    };
    void loop();

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::multimap<TimePoint, Call> m_calls; // guarded by m_mutex
    bool m_stopping = false; // guarded by m_mutex
    std::thread m_thread;
};

//! One simulated backend. Its knobs are properties a panel binds to; call() reads them
//! atomically from whichever thread calls it.
class SimulatedService : public QObject
{
    Q_OBJECT
    Q_PROPERTY(int failureRate READ failureRate WRITE setFailureRate NOTIFY settingsChanged)
    Q_PROPERTY(int latencyMedianMs READ latencyMedianMs WRITE setLatencyMedianMs NOTIFY
                       settingsChanged)
    Q_PROPERTY(int latencySpreadMs READ latencySpreadMs WRITE setLatencySpreadMs NOTIFY
                       settingsChanged)
    Q_PROPERTY(bool outage READ outage WRITE setOutage NOTIFY settingsChanged)
    Q_PROPERTY(bool hang READ hang WRITE setHang NOTIFY settingsChanged)

public:
    SimulatedService(const QString &name, std::shared_ptr<Simulator> simulator,
                     QObject *parent = nullptr);

    //! Thread-safe. Latency is log-normal around the median; the spread is about one standard
    //! deviation above it.
    QFuture<bool> call();

    int failureRate() const { return m_failureRate.load(std::memory_order_relaxed); }
    void setFailureRate(int percent);
    int latencyMedianMs() const { return m_medianMs.load(std::memory_order_relaxed); }
    void setLatencyMedianMs(int ms);
    int latencySpreadMs() const { return m_spreadMs.load(std::memory_order_relaxed); }
    void setLatencySpreadMs(int ms);
    bool outage() const { return m_outage.load(std::memory_order_relaxed); }
    void setOutage(bool on);
    bool hang() const { return m_hang.load(std::memory_order_relaxed); }
    void setHang(bool on);

Q_SIGNALS:
    void settingsChanged();

private:
    std::shared_ptr<Simulator> m_simulator;
    std::atomic<int> m_failureRate {0};
    std::atomic<int> m_medianMs {40};
    std::atomic<int> m_spreadMs {15};
    std::atomic<bool> m_outage {false};
    std::atomic<bool> m_hang {false};
};
