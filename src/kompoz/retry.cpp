// SPDX-License-Identifier: MIT
#include "retry.h"

#include <QLoggingCategory>
#include <QMetaMethod>
#include <QRandomGenerator>

namespace kompoz {

Q_LOGGING_CATEGORY(lcRetry, "kompoz.retry")

RetryPolicy::RetryPolicy(int maxAttempts, QObject *parent)
    : LiveObject(parent), m_maxAttempts(maxAttempts)
{
    if (maxAttempts < 1)
        detail::throwInvalid("RetryPolicy", "maxAttempts", "must be at least 1");
}

RetryPolicy::~RetryPolicy() = default;

void RetryPolicy::recordRetry(int attempt, std::chrono::nanoseconds delay)
{
    m_retries.fetch_add(1, std::memory_order_relaxed);
    static const QMetaMethod signal = QMetaMethod::fromSignal(&RetryPolicy::retrying);
    if (isSignalConnected(signal))
        Q_EMIT retrying(attempt,
                        std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    countsChanged();
}

void RetryPolicy::recordExhausted()
{
    m_exhausted.fetch_add(1, std::memory_order_relaxed);
    static const QMetaMethod signal = QMetaMethod::fromSignal(&RetryPolicy::exhausted);
    if (isSignalConnected(signal))
        Q_EMIT exhausted();
    countsChanged();
}

void RetryPolicy::recordRecovered()
{
    m_recovered.fetch_add(1, std::memory_order_relaxed);
    countsChanged();
}

void RetryPolicy::flushCounts()
{
    const int retries = retryCount();
    const int exhausted = exhaustedCount();
    const int recovered = recoveredCount();
    if (std::exchange(m_announcedRetries, retries) != retries)
        Q_EMIT retryCountChanged(retries);
    if (std::exchange(m_announcedExhausted, exhausted) != exhausted)
        Q_EMIT exhaustedCountChanged(exhausted);
    if (std::exchange(m_announcedRecovered, recovered) != recovered)
        Q_EMIT recoveredCountChanged(recovered);
}

namespace detail {

double defaultRandom() { return QRandomGenerator::global()->generateDouble(); }

} // namespace detail
} // namespace kompoz
