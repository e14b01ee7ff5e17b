package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// Markdown renders r's comparison of methods and, when it has one, its lambda sweep as Markdown tables, the form in
// which docs/benchmarks.md and docs/accuracy.md show them. Rates are percentages with one decimal.
func Markdown(r *Report) string {
	var b strings.Builder
	b.WriteString("| method | train s | model bytes | distance ms / image | end-to-end ms / image | image AUROC | pixel AUROC | AUPRO | raw scores: image / pixel / AUPRO | distance vs CRD | size vs CRD |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %.1f | %s | %s | %.0f | %s | %s | %s | %s / %s / %s | %s | %s |\n", row.Method, row.TrainSeconds,
			thousands(row.ModelBytes), millis(row.DistanceMs), row.EndToEndMs, pct(row.ImageAUROC), pct(row.PixelAUROC), pct(row.AUPRO),
			pct(row.Raw.ImageAUROC), pct(row.Raw.PixelAUROC), pct(row.Raw.AUPRO),
			ratio(row.SpeedupVsCRD, "slower"), ratio(row.MemoryVsCRD, "larger"))
	}
	if len(r.Lambdas) == 0 {
		return b.String()
	}
	head := "lambda"
	if r.Lambdas[0].Mode == "relative" {
		head = "lambda (x trace(G)/d)"
	}
	cells := func(name string, f func(l LambdaRow) string) {
		b.WriteString("| " + name)
		for _, l := range r.Lambdas {
			b.WriteString(" | " + f(l))
		}
		b.WriteString(" |\n")
	}
	b.WriteString("\n")
	cells(head, func(l LambdaRow) string { return strconv.FormatFloat(l.Lambda, 'g', -1, 64) })
	b.WriteString("|---" + strings.Repeat("|---", len(r.Lambdas)) + "|\n")
	cells(r.Category+" image AUROC", func(l LambdaRow) string { return pct(l.ImageAUROC) })
	cells(r.Category+" pixel AUROC", func(l LambdaRow) string { return pct(l.PixelAUROC) })
	cells(r.Category+" AUPRO", func(l LambdaRow) string { return pct(l.AUPRO) })
	cells("the same, raw scores: image / pixel AUROC", func(l LambdaRow) string {
		return pct(l.Raw.ImageAUROC) + " / " + pct(l.Raw.PixelAUROC)
	})
	return b.String()
}

// pct shows a fraction as a percentage with one decimal.
func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) }

// millis shows a time in milliseconds with three significant digits, and without decimals from 100 ms up.
func millis(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// ratio shows a ratio to CRD: "1x" for CRD itself, else three significant digits and the word.
func ratio(v float64, word string) string {
	if v == 1 {
		return "1x"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + "x " + word
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
