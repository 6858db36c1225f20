// SPDX-License-Identifier: MIT
#include "circuitbreaker.h"
#include "circuitbreaker_p.h"

#include <QLoggingCategory>
#include <QMetaMethod>

#include <limits>

namespace kompoz {

Q_LOGGING_CATEGORY(lcBreaker, "kompoz.circuitbreaker")

namespace {
void checkThreshold(int v)
{
    if (v < 1)
        detail::throwInvalid("CircuitBreaker", "failureThreshold", "must be at least 1");
}
void checkRecovery(std::chrono::nanoseconds v)
{
    if (v.count() < 0)
        detail::throwInvalid("CircuitBreaker", "recoveryTimeout", "must not be negative");
}
void checkHalfOpen(int v)
{
    if (v < 1)
        detail::throwInvalid("CircuitBreaker", "halfOpenMaxCalls", "must be at least 1");
}
QDateTime fromMs(qint64 ms)
{
    return ms < 0 ? QDateTime() : QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC);
}
const QMetaMethod &callRejectedSignal()
{
    static const QMetaMethod m = QMetaMethod::fromSignal(&CircuitBreaker::callRejected);
    return m;
}
} // namespace

CircuitBreaker::CircuitBreaker(int failureThreshold, std::chrono::nanoseconds recoveryTimeout,
                               int halfOpenMaxCalls, QObject *parent)
    : LiveObject(parent),
      m_failureThreshold(failureThreshold),
      m_recoveryTimeout(recoveryTimeout),
      m_halfOpenMaxCalls(halfOpenMaxCalls),
      m_clock(Clock::system()),
      m_x(std::make_unique<Extras>())
{
    checkThreshold(failureThreshold);
    checkRecovery(recoveryTimeout);
    checkHalfOpen(halfOpenMaxCalls);
    qRegisterMetaType<kompoz::CircuitState>();
    qRegisterMetaType<kompoz::CircuitBreakerStats>();
}

// ~CircuitBreaker() is in circuitbreakeroptions.cpp, beside the state it tears down.

CircuitState CircuitBreaker::state() const { return m_published.load(std::memory_order_acquire); }

CircuitBreakerStats CircuitBreaker::statsLocked() const
{
    CircuitBreakerStats s;
    s.state = m_state;
    s.failureCount = m_failureCount;
    s.successCount = m_successCount;
    s.lastFailureTime = fromMs(m_lastFailureMs);
    s.lastSuccessTime = fromMs(m_lastSuccessMs);
    s.halfOpenSuccesses = m_halfOpenSuccesses;
    s.rejectedCount = m_rejectedCount.load(std::memory_order_relaxed);
    return s;
}

CircuitBreakerStats CircuitBreaker::stats() const
{
    detail::Locker lock(m_mutex);
    return statsLocked();
}

#define KOMPOZ_LOCKED_GETTER(type, name, expr) \
    type CircuitBreaker::name() const \
    { \
        detail::Locker lock(m_mutex); \
        return expr; \
    }
KOMPOZ_LOCKED_GETTER(int, failureCount, m_failureCount)
KOMPOZ_LOCKED_GETTER(int, successCount, m_successCount)
KOMPOZ_LOCKED_GETTER(int, halfOpenSuccesses, m_halfOpenSuccesses)
KOMPOZ_LOCKED_GETTER(QDateTime, lastFailureTime, fromMs(m_lastFailureMs))
KOMPOZ_LOCKED_GETTER(QDateTime, lastSuccessTime, fromMs(m_lastSuccessMs))
KOMPOZ_LOCKED_GETTER(int, failureThreshold, m_failureThreshold)
KOMPOZ_LOCKED_GETTER(std::chrono::nanoseconds, recoveryTimeout, m_recoveryTimeout)
KOMPOZ_LOCKED_GETTER(int, halfOpenMaxCalls, m_halfOpenMaxCalls)
#undef KOMPOZ_LOCKED_GETTER

int CircuitBreaker::rejectedCount() const
{
    return m_rejectedCount.load(std::memory_order_relaxed);
}

qint64 CircuitBreaker::recoveryTimeoutMs() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(recoveryTimeout()).count();
}

void CircuitBreaker::setFailureThreshold(int failureThreshold)
{
    checkThreshold(failureThreshold);
    {
        detail::Locker lock(m_mutex);
        if (m_failureThreshold == failureThreshold)
            return;
        m_failureThreshold = failureThreshold;
        // A lower threshold the failures already reach opens the breaker now, as kompoz would
        // at the next failure; waiting for one more would surprise a person moving a slider.
        if (m_state == CircuitState::Closed && m_failureCount >= m_failureThreshold)
            transitionLocked(CircuitState::Open);
    }
    Q_EMIT settingsChanged();
    emitTransitions();
    countsChanged();
}

void CircuitBreaker::setRecoveryTimeout(std::chrono::nanoseconds recoveryTimeout)
{
    checkRecovery(recoveryTimeout);
    {
        detail::Locker lock(m_mutex);
        if (m_recoveryTimeout == recoveryTimeout)
            return;
        m_recoveryTimeout = recoveryTimeout;
        updateOpenUntilLocked();
    }
    Q_EMIT settingsChanged();
}

void CircuitBreaker::setRecoveryTimeoutMs(qint64 ms)
{
    setRecoveryTimeout(std::chrono::milliseconds(ms));
}

void CircuitBreaker::setHalfOpenMaxCalls(int halfOpenMaxCalls)
{
    checkHalfOpen(halfOpenMaxCalls);
    {
        detail::Locker lock(m_mutex);
        if (m_halfOpenMaxCalls == halfOpenMaxCalls)
            return;
        m_halfOpenMaxCalls = halfOpenMaxCalls;
    }
    Q_EMIT settingsChanged();
}

void CircuitBreaker::setStateChangeCallback(StateChangeCallback callback)
{
    detail::Locker lock(m_mutex);
    m_callback = std::move(callback);
}

void CircuitBreaker::setClock(const Clock *clock)
{
    detail::Locker lock(m_mutex);
    m_clock.store(clock ? clock : Clock::system(), std::memory_order_release);
    updateOpenUntilLocked();
}

bool CircuitBreaker::rejectIfOpen()
{
    if (m_published.load(std::memory_order_acquire) != CircuitState::Open ||
        m_clock.load(std::memory_order_acquire)->monotonicNow().count() >=
                m_openUntilNs.load(std::memory_order_acquire))
        return false;
    m_rejectedCount.fetch_add(1, std::memory_order_relaxed);
    if (isSignalConnected(callRejectedSignal()))
        Q_EMIT callRejected();
    countsChanged();
    return true;
}

CircuitBreaker::Permit CircuitBreaker::tryAcquire()
{
    Permit permit;
    // Lock-free hot paths. A run admitted here while another thread opens the breaker is one
    // that was in flight when it opened (it still counts, as in kompoz).
    const CircuitState published = m_published.load(std::memory_order_acquire);
    if (published == CircuitState::Closed) {
        permit.kind = Permit::Normal;
        if (m_timeCalls.load(std::memory_order_relaxed)) // off by default: one relaxed load
            permit.startedNs = m_clock.load(std::memory_order_acquire)->monotonicNow().count();
        return permit;
    }
    if (published == CircuitState::Open && rejectIfOpen())
        return permit;
    bool transitioned = false;
    {
        detail::Locker lock(m_mutex);
        switch (m_state) {
        case CircuitState::Closed:
            permit.kind = Permit::Normal;
            if (m_timeCalls.load(std::memory_order_relaxed))
                permit.startedNs = m_clock.load(std::memory_order_relaxed)->monotonicNow().count();
            return permit;
        case CircuitState::Open:
            // kompoz moves to HalfOpen lazily, on the first run after the recovery timeout
            // (grown by the break-duration backoff); an isolated breaker never does.
            if (m_x->isolated ||
                m_clock.load(std::memory_order_relaxed)->monotonicNow() - m_lastFailureAt <
                        breakDurationLocked())
                break;
            transitionLocked(CircuitState::HalfOpen);
            transitioned = true;
            Q_FALLTHROUGH();
        case CircuitState::HalfOpen:
            if (m_halfOpenTrials < m_halfOpenMaxCalls) {
                ++m_halfOpenTrials;
                permit.kind = Permit::Trial;
                permit.generation = m_generation;
            }
            break;
        }
        if (permit.isRejected())
            m_rejectedCount.fetch_add(1, std::memory_order_relaxed);
    }
    if (transitioned)
        emitTransitions();
    if (permit.isRejected() && isSignalConnected(callRejectedSignal()))
        Q_EMIT callRejected();
    countsChanged();
    return permit;
}

void CircuitBreaker::release(const Permit &permit, Outcome outcome)
{
    if (permit.isRejected())
        return;
    bool transitioned = false;
    {
        detail::Locker lock(m_mutex);
        if (outcome == Outcome::Canceled) {
            // Neither a success nor a failure; a trial's slot goes back to its own half-open
            // period only (a later period has a fresh count).
            if (permit.kind == Permit::Trial && m_state == CircuitState::HalfOpen &&
                permit.generation == m_generation && m_halfOpenTrials > 0)
                --m_halfOpenTrials;
            return;
        }
        const CircuitState before = m_state;
        const Clock *clock = m_clock.load(std::memory_order_relaxed);
        const std::chrono::nanoseconds now = clock->monotonicNow();
        const bool slow = permit.startedNs >= 0 && m_x->options.slowCallDuration.count() > 0 &&
                now.count() - permit.startedNs >= m_x->options.slowCallDuration.count();
        if (outcome == Outcome::Success) {
            ++m_successCount;
            m_lastSuccessMs = clock->currentMSecsSinceEpoch();
            if (m_state == CircuitState::HalfOpen) {
                if (++m_halfOpenSuccesses >= m_halfOpenMaxCalls && !m_x->disabled)
                    transitionLocked(CircuitState::Closed);
            } else if (m_state == CircuitState::Closed) {
                m_failureCount = 0;
                if (countLocked(false, slow, now)) { // too many slow calls
                    m_lastFailureAt = now;
                    transitionLocked(CircuitState::Open);
                }
            }
        } else {
            ++m_failureCount;
            m_lastFailureMs = clock->currentMSecsSinceEpoch();
            m_lastFailureAt = now;
            if (m_state == CircuitState::HalfOpen
                        ? !m_x->disabled
                        : m_state == CircuitState::Closed && countLocked(true, slow, now))
                transitionLocked(CircuitState::Open);
            updateOpenUntilLocked(); // a failure while Open extends it (since the last failure)
        }
        transitioned = m_state != before;
    }
    if (transitioned)
        emitTransitions();
    countsChanged();
}

void CircuitBreaker::reset()
{
    bool transitioned = false;
    bool isolationEnded = false;
    {
        detail::Locker lock(m_mutex);
        m_failureCount = 0;
        m_halfOpenSuccesses = 0;
        m_halfOpenTrials = 0;
        m_x->openings = 0;
        m_x->window.clear();
        isolationEnded = std::exchange(m_x->isolated, false);
        if (m_state != CircuitState::Closed) {
            transitionLocked(CircuitState::Closed);
            transitioned = true;
        }
    }
    if (transitioned)
        emitTransitions();
    if (isolationEnded)
        Q_EMIT modeChanged();
    countsChanged();
}

void CircuitBreaker::transitionLocked(CircuitState to)
{
    const CircuitState from = m_state;
    m_state = to;
    if (to == CircuitState::Open && !m_x->isolated)
        ++m_x->openings; // before the open-until time: the backoff depends on it
    else if (to == CircuitState::Closed) {
        m_x->openings = 0;
        m_x->window.clear(); // a closed breaker starts counting afresh (as resilience4j)
    }
    updateOpenUntilLocked();
    m_published.store(to, std::memory_order_release);
    switch (to) {
    case CircuitState::HalfOpen:
        m_halfOpenTrials = 0;
        m_halfOpenSuccesses = 0;
        ++m_generation;
        break;
    case CircuitState::Closed:
        m_failureCount = 0;
        m_halfOpenTrials = 0;
        m_halfOpenSuccesses = 0;
        break;
    case CircuitState::Open:
        break;
    }
    m_transitions.push_back(Transition {from, to, statsLocked()});
    if (to == CircuitState::Open && m_x->options.autoHalfOpen && !m_x->isolated)
        scheduleAutoHalfOpenLocked();
}

void CircuitBreaker::updateOpenUntilLocked()
{
    if (m_state != CircuitState::Open)
        return;
    if (m_x->isolated) {
        m_openUntilNs.store(std::numeric_limits<qint64>::max(), std::memory_order_release);
        return;
    }
    // Saturating: a recovery timeout of years must not wrap around.
    const qint64 at = m_lastFailureAt.count();
    const qint64 timeout = breakDurationLocked().count();
    m_openUntilNs.store(at > std::numeric_limits<qint64>::max() - timeout
                                ? std::numeric_limits<qint64>::max()
                                : at + timeout,
                        std::memory_order_release);
}

// Emits queued transitions in the order they happened, outside the lock. One thread emits at a
// time; a transition made meanwhile, by another thread or by a slot re-entering the breaker
// (reset() from a stateChanged slot), is emitted by the thread already emitting, after the
// current one. So receivers see a legal sequence of edges, and nothing deadlocks.
void CircuitBreaker::emitTransitions()
{
    for (;;) {
        if (m_emitting.exchange(true, std::memory_order_acquire))
            return;
        for (;;) {
            Transition t;
            StateChangeCallback callback;
            {
                detail::Locker lock(m_mutex);
                if (m_transitions.empty())
                    break;
                t = std::move(m_transitions.front());
                m_transitions.pop_front();
                callback = m_callback;
            }
            if (callback) {
                try {
                    callback(t.from, t.to, t.stats);
                } catch (const std::exception &e) {
                    qCWarning(lcBreaker, "onStateChange threw (%s); the transition %s -> %s stands",
                              e.what(), qPrintable(toString(t.from)), qPrintable(toString(t.to)));
                } catch (...) {
                    qCWarning(lcBreaker, "onStateChange threw; the transition %s -> %s stands",
                              qPrintable(toString(t.from)), qPrintable(toString(t.to)));
                }
            }
            Q_EMIT transitioned(t.from, t.to);
            Q_EMIT stateChanged(t.to);
            switch (t.to) {
            case CircuitState::Open:
                Q_EMIT opened();
                break;
            case CircuitState::HalfOpen:
                Q_EMIT halfOpened();
                break;
            case CircuitState::Closed:
                Q_EMIT closed();
                break;
            }
        }
        m_emitting.store(false, std::memory_order_release);
        detail::Locker lock(m_mutex);
        if (m_transitions.empty())
            return;
    }
}

void CircuitBreaker::flushCounts()
{
    const CircuitBreakerStats now = stats();
    const CircuitBreakerStats before = std::exchange(m_announced, now);
    if (now.failureCount != before.failureCount)
        Q_EMIT failureCountChanged(now.failureCount);
    if (now.successCount != before.successCount)
        Q_EMIT successCountChanged(now.successCount);
    if (now.halfOpenSuccesses != before.halfOpenSuccesses)
        Q_EMIT halfOpenSuccessesChanged(now.halfOpenSuccesses);
    if (now.rejectedCount != before.rejectedCount)
        Q_EMIT rejectedCountChanged(now.rejectedCount);
    if (now.lastFailureTime != before.lastFailureTime)
        Q_EMIT lastFailureTimeChanged(now.lastFailureTime);
    if (now.lastSuccessTime != before.lastSuccessTime)
        Q_EMIT lastSuccessTimeChanged(now.lastSuccessTime);
    if (now != before)
        Q_EMIT statsChanged(now);
}

} // namespace kompoz
