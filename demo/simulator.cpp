// SPDX-License-Identifier: MIT
#include "simulator.h"

#include <cmath>
#include <random>

using namespace std::chrono_literals;

Simulator::Simulator() : m_thread([this] { loop(); }) { }

Simulator::~Simulator() { stop(); }

void Simulator::stop()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable())
        m_thread.join();
    std::multimap<TimePoint, Call> left;
    {
        std::lock_guard lock(m_mutex);
        left.swap(m_calls);
    }
    for (auto &[due, call] : left) {
        call.promise.future().cancel();
        call.promise.finish();
    }
}

QFuture<bool> Simulator::schedule(TimePoint due, bool ok)
{
    QPromise<bool> promise;
    promise.start();
    QFuture<bool> future = promise.future();
    bool earliest;
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping) {
            // Shutting down: nobody will answer, so say so at once.
            future.cancel();
            promise.finish();
            return future;
        }
        auto it = m_calls.emplace(due, Call {std::move(promise), ok});
        earliest = it == m_calls.begin();
    }
    if (earliest)
        m_wake.notify_one();
    return future;
}

int Simulator::pending() const
{
    std::lock_guard lock(m_mutex);
    return int(m_calls.size());
}

void Simulator::loop()
{
    // Cancelled calls are swept this often: a timeout's cancellation reaches the "work" within
    // this delay, as it would reach a real task that checks isCanceled() between steps.
    constexpr auto kSweep = 50ms;
    auto nextSweep = std::chrono::steady_clock::now() + kSweep;
    std::vector<Call> answering;
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
        const auto now = std::chrono::steady_clock::now();
        while (!m_calls.empty() && m_calls.begin()->first <= now) {
            answering.push_back(std::move(m_calls.begin()->second));
            m_calls.erase(m_calls.begin());
        }
        if (now >= nextSweep) {
            for (auto it = m_calls.begin(); it != m_calls.end();) {
                if (it->second.promise.isCanceled()) {
                    answering.push_back(std::move(it->second));
                    it = m_calls.erase(it);
                } else {
                    ++it;
                }
            }
            nextSweep = now + kSweep;
        }
        if (!answering.empty()) {
            // Answer outside the lock: finishing runs the library's continuation in this
            // thread, which may start the next queued call and schedule() again.
            lock.unlock();
            for (Call &call : answering) {
                if (!call.promise.isCanceled())
                    call.promise.addResult(call.ok);
                call.promise.finish();
            }
            answering.clear();
            lock.lock();
            continue;
        }
        auto wakeAt = nextSweep;
        if (!m_calls.empty() && m_calls.begin()->first < wakeAt)
            wakeAt = m_calls.begin()->first;
        m_wake.wait_until(lock, wakeAt);
    }
}

SimulatedService::SimulatedService(const QString &name, std::shared_ptr<Simulator> simulator,
                                   QObject *parent)
    : QObject(parent), m_simulator(std::move(simulator))
{
    setObjectName(name);
}

QFuture<bool> SimulatedService::call()
{
    thread_local std::mt19937 random(std::random_device {}());
    thread_local std::normal_distribution<double> normal(0.0, 1.0);
    thread_local std::uniform_int_distribution<int> percent(0, 99);

    const auto now = std::chrono::steady_clock::now();
    if (hang())
        return m_simulator->schedule(Simulator::TimePoint::max(), false);
    const bool ok = !outage() && percent(random) >= failureRate();
    const double median = std::max(0, latencyMedianMs());
    const double spread = std::max(0, latencySpreadMs());
    double ms = median;
    if (median > 0 && spread > 0)
        ms = median * std::exp(std::log1p(spread / median) * normal(random));
    if (!ok && outage())
        ms = std::min(ms, 5.0 + median * 0.1); // a service that is down refuses quickly
    const auto due = now + std::chrono::microseconds(qint64(ms * 1000));
    return m_simulator->schedule(due, ok);
}

void SimulatedService::setFailureRate(int percent)
{
    if (m_failureRate.exchange(qBound(0, percent, 100)) != percent)
        Q_EMIT settingsChanged();
}

void SimulatedService::setLatencyMedianMs(int ms)
{
    if (m_medianMs.exchange(qMax(0, ms)) != ms)
        Q_EMIT settingsChanged();
}

void SimulatedService::setLatencySpreadMs(int ms)
{
    if (m_spreadMs.exchange(qMax(0, ms)) != ms)
        Q_EMIT settingsChanged();
}

void SimulatedService::setOutage(bool on)
{
    if (m_outage.exchange(on) != on)
        Q_EMIT settingsChanged();
}

void SimulatedService::setHang(bool on)
{
    if (m_hang.exchange(on) != on)
        Q_EMIT settingsChanged();
}
