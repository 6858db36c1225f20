// SPDX-License-Identifier: MIT
#pragma once

//! \file loadgenerator.h
//! Sends requests at a steady rate, round robin over the services, from a thread of its own:
//! the GUI thread only sets the rate.

#include <kompoz/rollingmetrics.h>

#include <QObject>

#include <atomic>
#include <chrono>
#include <functional>
#include <vector>

class QThread;
class QTimer;

class LoadGenerator : public QObject
{
    Q_OBJECT
    Q_PROPERTY(int rate READ rate WRITE setRate NOTIFY rateChanged)
    Q_PROPERTY(bool running READ isRunning WRITE setRunning NOTIFY runningChanged)

public:
    using Target = kompoz::AsyncCombinator<int>;

    //! Starts its thread; runs nothing until setRunning(true).
    explicit LoadGenerator(std::vector<Target> targets, QObject *parent = nullptr);
    ~LoadGenerator() override;

    int rate() const { return m_rate.load(std::memory_order_relaxed); }
    void setRate(int requestsPerSecond);
    bool isRunning() const { return m_running.load(std::memory_order_relaxed); }
    void setRunning(bool running);
    //! Requests sent since the start.
    qint64 sent() const { return m_sent.load(std::memory_order_relaxed); }
    //! Sends the requests of target `index` to `target` from now on (a service whose pipeline
    //! was rebuilt); runs already started on the old one go on there.
    void setTarget(int index, Target target);

Q_SIGNALS:
    void rateChanged(int rate);
    void runningChanged(bool running);

private:
    class Worker;
    QThread *m_thread;
    Worker *m_worker;
    std::atomic<int> m_rate {0};
    std::atomic<bool> m_running {false};
    std::atomic<qint64> m_sent {0};
};
