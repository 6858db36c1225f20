// SPDX-License-Identifier: MIT
#include "hedged.h"

namespace kompoz {

HedgingPolicy::HedgingPolicy(std::chrono::nanoseconds delay, int maxHedges, QObject *parent)
    : LiveObject(parent), m_delay(delay), m_maxHedges(maxHedges)
{
    if (delay.count() < 0)
        detail::throwInvalid("HedgingPolicy", "delay", "must not be negative");
    if (maxHedges < 1 || maxHedges > 100)
        detail::throwInvalid("HedgingPolicy", "maxHedges", "must be between 1 and 100");
}

HedgingPolicy::~HedgingPolicy() = default;

qint64 HedgingPolicy::delayMs() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(m_delay).count();
}

void HedgingPolicy::recordHedge()
{
    m_hedges.fetch_add(1, std::memory_order_relaxed);
    countsChanged();
}

void HedgingPolicy::recordWin(int attempt)
{
    Q_UNUSED(attempt)
    m_wins.fetch_add(1, std::memory_order_relaxed);
    countsChanged();
}

void HedgingPolicy::flushCounts()
{
    const int hedges = hedgeCount();
    const int wins = hedgeWinCount();
    if (std::exchange(m_announcedHedges, hedges) != hedges)
        Q_EMIT hedgeCountChanged(hedges);
    if (std::exchange(m_announcedWins, wins) != wins)
        Q_EMIT hedgeWinCountChanged(wins);
}

} // namespace kompoz
