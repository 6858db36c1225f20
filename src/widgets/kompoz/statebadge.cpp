// SPDX-License-Identifier: MIT
#include "statebadge.h"

#include <QPainter>
#include <QPainterPath>

namespace kompoz {

StateBadge::StateBadge(QWidget *parent) : QLabel(parent)
{
    setObjectName(QStringLiteral("stateBadge"));
    QFont f = font();
    f.setBold(true);
    f.setPointSizeF(f.pointSizeF() * 1.25);
    setFont(f);
    setAlignment(Qt::AlignCenter);
    setText(label(m_state));
    setAccessibleName(tr("Circuit state"));
    setAccessibleDescription(text());
}

StateBadge::~StateBadge() = default;

QString StateBadge::label(CircuitState state)
{
    switch (state) {
    case CircuitState::Closed:
        return tr("Closed");
    case CircuitState::Open:
        return tr("Open");
    case CircuitState::HalfOpen:
        return tr("Half-open");
    }
    return {};
}

QColor StateBadge::color(CircuitState state)
{
    switch (state) {
    case CircuitState::Closed:
        return QColor(0x2e, 0x9d, 0x5b);
    case CircuitState::Open:
        return QColor(0xd9, 0x3b, 0x3b);
    case CircuitState::HalfOpen:
        return QColor(0xe8, 0xa3, 0x17);
    }
    return {};
}

void StateBadge::setState(CircuitState state)
{
    if (state == m_state)
        return;
    m_state = state;
    setText(label(state));
    setAccessibleDescription(text());
    update();
    Q_EMIT stateChanged(state);
}

QSize StateBadge::sizeHint() const
{
    // Wide enough for the longest label, so the header does not jump when the state changes.
    const QFontMetrics fm(font());
    int widest = 0;
    for (CircuitState s : {CircuitState::Closed, CircuitState::Open, CircuitState::HalfOpen})
        widest = qMax(widest, fm.horizontalAdvance(label(s)));
    return QSize(widest + fm.height() * 2 + 8, fm.height() + 14);
}

QSize StateBadge::minimumSizeHint() const { return sizeHint(); }

void StateBadge::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QRectF r = QRectF(rect()).adjusted(1, 1, -1, -1);
    const qreal radius = r.height() / 2;
    const QColor c = color(m_state);
    p.setPen(Qt::NoPen);
    p.setBrush(c);
    p.drawRoundedRect(r, radius, radius);
    // A small dot, as status lights have, before the text.
    const QFontMetrics fm(font());
    const qreal dot = fm.height() * 0.38;
    const qreal textWidth = fm.horizontalAdvance(text());
    const qreal total = dot + 8 + textWidth;
    const qreal x0 = r.center().x() - total / 2;
    p.setBrush(QColor(255, 255, 255, 220));
    p.drawEllipse(QRectF(x0, r.center().y() - dot / 2, dot, dot));
    p.setPen(Qt::white);
    p.setFont(font());
    p.drawText(QRectF(x0 + dot + 8, r.top(), textWidth + 2, r.height()),
               Qt::AlignVCenter | Qt::AlignLeft, text());
}

} // namespace kompoz
