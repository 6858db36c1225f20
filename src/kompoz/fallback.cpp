// SPDX-License-Identifier: MIT
#include "fallback.h"

#include <QMetaMethod>

namespace kompoz {

FallbackPolicy::FallbackPolicy(QObject *parent) : LiveObject(parent)
{
    qRegisterMetaType<kompoz::Outcome>();
}

FallbackPolicy::~FallbackPolicy() = default;

void FallbackPolicy::recordFallback(Outcome reason)
{
    m_count.fetch_add(1, std::memory_order_relaxed);
    if (reason == Outcome::Error)
        m_errors.fetch_add(1, std::memory_order_relaxed);
    static const QMetaMethod signal = QMetaMethod::fromSignal(&FallbackPolicy::fellBack);
    if (isSignalConnected(signal))
        Q_EMIT fellBack(reason);
    countsChanged();
}

void FallbackPolicy::flushCounts()
{
    const int now = fallbackCount();
    if (std::exchange(m_announced, now) != now)
        Q_EMIT fallbackCountChanged(now);
}

} // namespace kompoz
