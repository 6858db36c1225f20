// SPDX-License-Identifier: MIT
// The breaker's options beyond kompoz (failure-ratio and slow-call windows, break-duration
// backoff, isolate/disable, automatic half-open) and its JSON persistence. Kept out of
// circuitbreaker.cpp so that the consecutive-count state machine stays readable.

#include "circuitbreaker.h"
#include "circuitbreaker_p.h"

#include <QJsonObject>
#include <QJsonValue>

#include <cmath>
#include <limits>

namespace kompoz {

namespace detail {

namespace {
void checkOptions(const CircuitBreakerOptions &o)
{
    const char *f = "CircuitBreakerOptions";
    if (!(o.failureRatio >= 0 && o.failureRatio <= 1))
        throwInvalid(f, "failureRatio", "must be between 0 (off) and 1");
    if (o.windowSize < 1)
        throwInvalid(f, "windowSize", "must be at least 1");
    if (o.windowDuration.count() <= 0)
        throwInvalid(f, "windowDuration", "must be greater than zero");
    if (o.minimumThroughput < 1)
        throwInvalid(f, "minimumThroughput", "must be at least 1");
    if (o.slowCallDuration.count() < 0)
        throwInvalid(f, "slowCallDuration", "must not be negative (0: off)");
    if (!(o.slowCallRatio > 0 && o.slowCallRatio <= 1))
        throwInvalid(f, "slowCallRatio", "must be greater than 0 and at most 1");
    if (!(o.breakDurationMultiplier >= 1) || !std::isfinite(o.breakDurationMultiplier))
        throwInvalid(f, "breakDurationMultiplier", "must be at least 1");
    if (o.maxBreakDuration.count() < 0)
        throwInvalid(f, "maxBreakDuration", "must not be negative (0: no cap)");
}
} // namespace
} // namespace detail

CircuitBreaker::CircuitBreaker(const CircuitBreakerOptions &options, QObject *parent)
    : CircuitBreaker(options.failureThreshold, options.recoveryTimeout, options.halfOpenMaxCalls,
                     parent)
{
    detail::checkOptions(options);
    m_x->options = options;
    m_x->options.onStateChange = nullptr; // held in m_callback, which setStateChangeCallback sets
    m_x->disabled = options.disabled;
    m_x->windowed = options.failureRatio > 0 || options.slowCallDuration.count() > 0;
    if (m_x->windowed)
        m_x->window.configure(options.window, options.windowSize, options.windowDuration.count());
    m_timeCalls.store(options.slowCallDuration.count() > 0, std::memory_order_relaxed);
    if (options.clock)
        setClock(options.clock);
    if (options.onStateChange)
        setStateChangeCallback(options.onStateChange);
    if (options.autoHalfOpen)
        m_x->autoTimer = detail::Ref<detail::AutoHalfOpenTimer>::adopt(
                new detail::AutoHalfOpenTimer(this));
}

CircuitBreaker::~CircuitBreaker()
{
    if (m_x->autoTimer) {
        m_x->autoTimer->detachBreaker();
        detail::TimerService::instance().remove(m_x->autoTimer.get());
    }
}

CircuitBreakerOptions CircuitBreaker::options() const
{
    detail::Locker lock(m_mutex);
    CircuitBreakerOptions o = m_x->options;
    o.failureThreshold = m_failureThreshold;
    o.recoveryTimeout = m_recoveryTimeout;
    o.halfOpenMaxCalls = m_halfOpenMaxCalls;
    o.disabled = m_x->disabled;
    o.clock = m_clock.load(std::memory_order_relaxed);
    o.onStateChange = m_callback;
    return o;
}

bool CircuitBreaker::isIsolated() const
{
    detail::Locker lock(m_mutex);
    return m_x->isolated;
}

bool CircuitBreaker::isDisabled() const
{
    detail::Locker lock(m_mutex);
    return m_x->disabled;
}

double CircuitBreaker::failureRatio() const
{
    detail::Locker lock(m_mutex);
    if (!m_x->windowed)
        return 0;
    const auto t = m_x->window.totals(
            m_clock.load(std::memory_order_relaxed)->monotonicNow().count());
    return t.calls ? double(t.failures) / t.calls : 0;
}

double CircuitBreaker::slowCallRatio() const
{
    detail::Locker lock(m_mutex);
    if (!m_x->windowed)
        return 0;
    const auto t = m_x->window.totals(
            m_clock.load(std::memory_order_relaxed)->monotonicNow().count());
    return t.calls ? double(t.slow) / t.calls : 0;
}

std::chrono::nanoseconds CircuitBreaker::breakDuration() const
{
    detail::Locker lock(m_mutex);
    return breakDurationLocked();
}

qint64 CircuitBreaker::breakDurationMs() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(breakDuration()).count();
}

// The current opening's duration: while Open, `openings` counts it already; otherwise it is
// the duration the next opening would have.
std::chrono::nanoseconds CircuitBreaker::breakDurationLocked() const
{
    const CircuitBreakerOptions &o = m_x->options;
    const int n = m_state == CircuitState::Open ? m_x->openings : m_x->openings + 1;
    double ns = double(m_recoveryTimeout.count());
    if (o.breakDurationMultiplier > 1 && n > 1)
        ns *= std::pow(o.breakDurationMultiplier, qMin(n - 1, 1000));
    if (o.maxBreakDuration.count() > 0)
        ns = qMin(ns, double(o.maxBreakDuration.count()));
    // Doubles saturate rather than wrap; keep clear of qint64's end.
    ns = qMin(ns, double(std::numeric_limits<qint64>::max() / 2));
    return std::chrono::nanoseconds(qint64(ns));
}

// Records a call that ended while Closed; true when the breaker must open now.
bool CircuitBreaker::countLocked(bool failure, bool slow, std::chrono::nanoseconds now)
{
    if (m_x->windowed)
        m_x->window.record(failure, slow, now.count());
    if (m_x->disabled)
        return false;
    const CircuitBreakerOptions &o = m_x->options;
    if (o.failureRatio <= 0 && failure && m_failureCount >= m_failureThreshold)
        return true; // kompoz's consecutive count
    if (!m_x->windowed)
        return false;
    const auto t = m_x->window.totals(now.count());
    if (t.calls < o.minimumThroughput)
        return false;
    if (o.failureRatio > 0 && double(t.failures) >= o.failureRatio * t.calls)
        return true;
    return o.slowCallDuration.count() > 0 && double(t.slow) >= o.slowCallRatio * t.calls;
}

void CircuitBreaker::scheduleAutoHalfOpenLocked()
{
    if (!m_x->autoTimer)
        return;
    // The break is measured on the breaker's clock; the wakeup is real time. With a
    // ManualClock the check on wakeup finds the break not over and schedules again.
    const qint64 left = m_openUntilNs.load(std::memory_order_relaxed) -
            m_clock.load(std::memory_order_relaxed)->monotonicNow().count();
    const auto wait = std::chrono::nanoseconds(qBound<qint64>(1000000, left, 86400LL * 1000000000));
    detail::TimerService &timers = detail::TimerService::instance();
    timers.remove(m_x->autoTimer.get());
    timers.add(m_x->autoTimer.get(), std::chrono::steady_clock::now() + wait);
}

// In the breaker's thread, posted by the timer.
void CircuitBreaker::checkAutoHalfOpen()
{
    bool transitioned = false;
    {
        detail::Locker lock(m_mutex);
        if (m_state != CircuitState::Open || m_x->isolated)
            return;
        if (m_clock.load(std::memory_order_relaxed)->monotonicNow().count() <
            m_openUntilNs.load(std::memory_order_relaxed)) {
            scheduleAutoHalfOpenLocked(); // extended by a late failure, or a ManualClock
            return;
        }
        transitionLocked(CircuitState::HalfOpen);
        transitioned = true;
    }
    if (transitioned)
        emitTransitions();
    countsChanged();
}

void CircuitBreaker::isolate()
{
    bool transitioned = false;
    bool changed = false;
    {
        detail::Locker lock(m_mutex);
        changed = !m_x->isolated || m_x->disabled;
        m_x->isolated = true;
        m_x->disabled = false;
        if (m_state != CircuitState::Open) {
            transitionLocked(CircuitState::Open);
            transitioned = true;
        }
        updateOpenUntilLocked();
    }
    if (transitioned)
        emitTransitions();
    if (changed)
        Q_EMIT modeChanged();
    countsChanged();
}

void CircuitBreaker::setDisabled(bool disabled)
{
    bool transitioned = false;
    {
        detail::Locker lock(m_mutex);
        if (m_x->disabled == disabled)
            return;
        m_x->disabled = disabled;
        m_x->isolated = false;
        m_failureCount = 0;
        m_x->window.clear();
        if (m_state != CircuitState::Closed) {
            transitionLocked(CircuitState::Closed);
            transitioned = true;
        }
    }
    if (transitioned)
        emitTransitions();
    Q_EMIT modeChanged();
    countsChanged();
}

// ---- Persistence ----------------------------------------------------------------------------

namespace {
constexpr int kStateVersion = 1;

QJsonValue msOrNull(qint64 ms) { return ms < 0 ? QJsonValue() : QJsonValue(double(ms)); }

// Reads a non-negative whole number that fits an int (JSON numbers are doubles).
bool readCount(const QJsonObject &o, const char *key, int *out, QString *error)
{
    const QJsonValue v = o.value(QLatin1String(key));
    const double d = v.toDouble(-1);
    if (!v.isDouble() || d < 0 || d > std::numeric_limits<int>::max() || d != std::floor(d)) {
        *error = QStringLiteral("'%1' must be a whole number >= 0").arg(QLatin1String(key));
        return false;
    }
    *out = int(d);
    return true;
}

// A time in ms since the epoch, or null / absent for none (-1).
bool readTime(const QJsonObject &o, const char *key, qint64 *out, QString *error)
{
    const QJsonValue v = o.value(QLatin1String(key));
    if (v.isUndefined() || v.isNull()) {
        *out = -1;
        return true;
    }
    const double d = v.toDouble(-1);
    if (!v.isDouble() || d < 0 || d > 1e15 || d != std::floor(d)) {
        *error = QStringLiteral("'%1' must be a time in ms since the epoch, or null")
                         .arg(QLatin1String(key));
        return false;
    }
    *out = qint64(d);
    return true;
}
} // namespace

QJsonObject CircuitBreaker::saveState() const
{
    detail::Locker lock(m_mutex);
    const Clock *clock = m_clock.load(std::memory_order_relaxed);
    QJsonObject o;
    o.insert(QLatin1String("version"), kStateVersion);
    o.insert(QLatin1String("state"), toString(m_state));
    o.insert(QLatin1String("failureCount"), m_failureCount);
    o.insert(QLatin1String("successCount"), m_successCount);
    o.insert(QLatin1String("halfOpenSuccesses"), m_halfOpenSuccesses);
    o.insert(QLatin1String("rejectedCount"), m_rejectedCount.load(std::memory_order_relaxed));
    o.insert(QLatin1String("lastFailureTime"), msOrNull(m_lastFailureMs));
    o.insert(QLatin1String("lastSuccessTime"), msOrNull(m_lastSuccessMs));
    o.insert(QLatin1String("openings"), m_x->openings);
    o.insert(QLatin1String("isolated"), m_x->isolated);
    o.insert(QLatin1String("disabled"), m_x->disabled);
    qint64 openUntilMs = -1;
    if (m_state == CircuitState::Open && !m_x->isolated) {
        // Monotonic time does not survive a restart: save the end of the break as wall time.
        const qint64 leftNs = m_openUntilNs.load(std::memory_order_relaxed) -
                clock->monotonicNow().count();
        openUntilMs = clock->currentMSecsSinceEpoch() + qMax<qint64>(0, leftNs / 1000000);
    }
    o.insert(QLatin1String("openUntil"), msOrNull(openUntilMs));
    return o;
}

bool CircuitBreaker::restoreState(const QJsonObject &o, QString *errorString)
{
    QString error;
    auto refuse = [&](const QString &why) {
        if (errorString)
            *errorString = QStringLiteral("CircuitBreaker::restoreState: ") + why;
        return false;
    };
    // Everything is read and checked first: a malformed object changes nothing.
    if (o.value(QLatin1String("version")).toInt(-1) != kStateVersion)
        return refuse(QStringLiteral("'version' must be %1").arg(kStateVersion));
    const QString stateName = o.value(QLatin1String("state")).toString();
    CircuitState state;
    if (stateName == QLatin1String("Closed"))
        state = CircuitState::Closed;
    else if (stateName == QLatin1String("Open"))
        state = CircuitState::Open;
    else if (stateName == QLatin1String("HalfOpen"))
        state = CircuitState::HalfOpen;
    else
        return refuse(QStringLiteral("'state' must be \"Closed\", \"Open\" or \"HalfOpen\""));
    int failures, successes, halfOpenSuccesses, rejected, openings;
    qint64 lastFailureMs, lastSuccessMs, openUntilMs;
    if (!readCount(o, "failureCount", &failures, &error) ||
        !readCount(o, "successCount", &successes, &error) ||
        !readCount(o, "halfOpenSuccesses", &halfOpenSuccesses, &error) ||
        !readCount(o, "rejectedCount", &rejected, &error) ||
        !readCount(o, "openings", &openings, &error) ||
        !readTime(o, "lastFailureTime", &lastFailureMs, &error) ||
        !readTime(o, "lastSuccessTime", &lastSuccessMs, &error) ||
        !readTime(o, "openUntil", &openUntilMs, &error))
        return refuse(error);
    const QJsonValue isolatedValue = o.value(QLatin1String("isolated"));
    const QJsonValue disabledValue = o.value(QLatin1String("disabled"));
    if (!isolatedValue.isBool() || !disabledValue.isBool())
        return refuse(QStringLiteral("'isolated' and 'disabled' must be true or false"));
    const bool isolated = isolatedValue.toBool();
    const bool disabled = disabledValue.toBool();
    if (isolated && state != CircuitState::Open)
        return refuse(QStringLiteral("'isolated' needs 'state' \"Open\""));
    if (disabled && state != CircuitState::Closed)
        return refuse(QStringLiteral("'disabled' needs 'state' \"Closed\""));
    if (state == CircuitState::Open && !isolated && openUntilMs < 0)
        return refuse(QStringLiteral("'openUntil' is needed when 'state' is \"Open\""));

    bool transitioned = false;
    bool modeChange = false;
    {
        detail::Locker lock(m_mutex);
        const Clock *clock = m_clock.load(std::memory_order_relaxed);
        modeChange = m_x->isolated != isolated || m_x->disabled != disabled;
        m_x->isolated = isolated;
        m_x->disabled = disabled;
        if (m_state != state) {
            // The transition resets counts of its own: the saved ones are set after it.
            transitionLocked(state);
            transitioned = true;
        }
        m_x->window.clear();
        m_failureCount = failures;
        m_successCount = successes;
        m_rejectedCount.store(rejected, std::memory_order_relaxed);
        m_lastFailureMs = lastFailureMs;
        m_lastSuccessMs = lastSuccessMs;
        m_x->openings = state == CircuitState::Open ? qMax(openings, 1) : openings;
        if (state == CircuitState::HalfOpen)
            m_halfOpenSuccesses = halfOpenSuccesses;
        if (state == CircuitState::Open && !isolated) {
            // The break ends when it was saved to end, in this process's monotonic time.
            const qint64 leftMs = openUntilMs - clock->currentMSecsSinceEpoch();
            const qint64 until = clock->monotonicNow().count() + leftMs * 1000000;
            m_lastFailureAt = std::chrono::nanoseconds(until) - breakDurationLocked();
        }
        updateOpenUntilLocked();
        if (transitioned && !m_transitions.empty())
            m_transitions.back().stats = statsLocked();
        if (state == CircuitState::Open && m_x->options.autoHalfOpen && !isolated)
            scheduleAutoHalfOpenLocked();
    }
    if (transitioned)
        emitTransitions();
    if (modeChange)
        Q_EMIT modeChanged();
    countsChanged();
    return true;
}

} // namespace kompoz
