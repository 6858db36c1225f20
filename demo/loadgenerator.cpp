// SPDX-License-Identifier: MIT
#include "loadgenerator.h"

#include <QThread>
#include <QTimer>

#include <cmath>

// Lives in the generator's thread. A 5 ms precise timer and a credit of requests owed: the
// rate holds however late a tick is, and a stall does not turn into a burst (the credit is
// capped at a quarter of a second's worth).
class LoadGenerator::Worker : public QObject
{
public:
    Worker(LoadGenerator *owner, std::vector<Target> targets)
        : m_owner(owner), m_targets(std::move(targets)), m_timer(new QTimer(this))
    {
        m_timer->setTimerType(Qt::PreciseTimer);
        m_timer->setInterval(5);
        connect(m_timer, &QTimer::timeout, this, [this] { tick(); });
    }

    void start()
    {
        m_last = std::chrono::steady_clock::now();
        m_credit = 0;
        m_timer->start();
    }
    void stop() { m_timer->stop(); }
    void setTarget(int index, Target target)
    {
        if (index >= 0 && size_t(index) < m_targets.size())
            m_targets[size_t(index)] = std::move(target);
    }

private:
    void tick()
    {
        const auto now = std::chrono::steady_clock::now();
        const double elapsed = std::chrono::duration<double>(now - m_last).count();
        m_last = now;
        const double rate = m_owner->rate();
        m_credit = std::min(m_credit + rate * elapsed, std::max(1.0, rate / 4));
        const int n = int(std::floor(m_credit));
        m_credit -= n;
        for (int i = 0; i < n && !m_targets.empty(); ++i) {
            const Target &target = m_targets[m_next++ % m_targets.size()];
            // Nothing to do with the answer: withMetrics and the breaker already counted it.
            target.run(int(m_owner->m_sent.fetch_add(1, std::memory_order_relaxed)),
                       [](const kompoz::Completion<int> &) {});
        }
    }

    LoadGenerator *m_owner;
    std::vector<Target> m_targets;
    QTimer *m_timer;
    std::chrono::steady_clock::time_point m_last;
    double m_credit = 0;
    size_t m_next = 0;
};

LoadGenerator::LoadGenerator(std::vector<Target> targets, QObject *parent)
    : QObject(parent), m_thread(new QThread), m_worker(new Worker(this, std::move(targets)))
{
    m_thread->setObjectName(QStringLiteral("load generator"));
    m_worker->moveToThread(m_thread);
    m_thread->start();
}

LoadGenerator::~LoadGenerator()
{
    QMetaObject::invokeMethod(
            m_worker, [w = m_worker] { delete w; }, Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
    delete m_thread;
}

void LoadGenerator::setRate(int requestsPerSecond)
{
    requestsPerSecond = qMax(0, requestsPerSecond);
    if (m_rate.exchange(requestsPerSecond) != requestsPerSecond)
        Q_EMIT rateChanged(requestsPerSecond);
}

void LoadGenerator::setTarget(int index, Target target)
{
    // The worker's thread owns the list: the swap happens there, between two ticks.
    QMetaObject::invokeMethod(m_worker, [w = m_worker, index, t = std::move(target)]() mutable {
        w->setTarget(index, std::move(t));
    });
}

void LoadGenerator::setRunning(bool running)
{
    if (m_running.exchange(running) == running)
        return;
    QMetaObject::invokeMethod(m_worker, [w = m_worker, running] {
        if (running)
            w->start();
        else
            w->stop();
    });
    Q_EMIT runningChanged(running);
}
