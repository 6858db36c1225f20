// SPDX-License-Identifier: MIT
#include "toggleswitch.h"

#include <QPainter>

ToggleSwitch::ToggleSwitch(const QString &text, const QColor &onColor, QWidget *parent)
    : QAbstractButton(parent), m_onColor(onColor)
{
    setText(text);
    setCheckable(true);
    setCursor(Qt::PointingHandCursor);
}

QSize ToggleSwitch::sizeHint() const
{
    const QFontMetrics fm(font());
    const int h = fm.height() + 6;
    return QSize(h * 2 + 8 + fm.horizontalAdvance(text()) + 4, h);
}

void ToggleSwitch::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics fm(font());
    const qreal h = fm.height() + 2;
    const QRectF track(1, (height() - h) / 2, h * 1.9, h);
    const bool on = isChecked();
    p.setPen(Qt::NoPen);
    p.setBrush(on ? m_onColor : palette().color(QPalette::Mid));
    p.drawRoundedRect(track, h / 2, h / 2);
    const qreal knob = h - 4;
    const qreal x = on ? track.right() - knob - 2 : track.left() + 2;
    p.setBrush(on ? QColor(Qt::white) : palette().color(QPalette::PlaceholderText));
    p.drawEllipse(QRectF(x, track.top() + 2, knob, knob));
    p.setPen(palette().color(on ? QPalette::WindowText : QPalette::PlaceholderText));
    if (hasFocus())
        p.setPen(palette().color(QPalette::Highlight));
    p.drawText(QRectF(track.right() + 8, 0, width() - track.right() - 8, height()),
               Qt::AlignVCenter | Qt::AlignLeft, text());
}
