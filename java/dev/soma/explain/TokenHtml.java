package dev.soma.explain;

import dev.soma.io.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;

/**
 * An HTML page with the text once per method, each token's background red (for the target) or blue (against)
 * with opacity proportional to its attribution; hovering shows the value. Padding tokens are left out.
 */
public final class TokenHtml {
    private TokenHtml() {}

    public static String render(String title, List<TokenAttribution.Result> results, IntFunction<String> words, int padId) {
        StringBuilder b = new StringBuilder();
        b.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").append(escape(title))
                .append("</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.9}"
                        + "span.t{padding:1px 2px;border-radius:3px}</style></head><body>\n<h1>")
                .append(escape(title)).append("</h1>\n");
        for (TokenAttribution.Result r : results) {
            Attribution a = r.full();
            float top = 0;
            for (int i = 0; i < r.ids().length; i++) if (r.ids()[i] != padId) top = Math.max(top, Math.abs(r.perToken()[i]));
            if (top == 0) top = 1;
            b.append("<h2>").append(escape(a.method())).append("</h2>\n<p>")
                    .append(String.format(Locale.ROOT, "score %.4f", a.score()));
            if (!Double.isNaN(a.delta())) b.append(String.format(Locale.ROOT, ", convergence delta %.3e", a.delta()));
            b.append("</p>\n<p>");
            for (int i = 0; i < r.ids().length; i++) {
                if (r.ids()[i] == padId) continue;
                float v = r.perToken()[i];
                double alpha = Math.min(1, Math.abs(v) / top);
                String rgb = v >= 0 ? "220,40,40" : "40,90,220";
                b.append(String.format(Locale.ROOT, "<span class=\"t\" title=\"%.4g\" style=\"background:rgba(%s,%.2f)\">",
                        v, rgb, alpha)).append(escape(words.apply(r.ids()[i]))).append("</span> ");
            }
            b.append("</p>\n");
        }
        return b.append("</body></html>\n").toString();
    }

    public static void write(Path html, String title, List<TokenAttribution.Result> results, IntFunction<String> words,
                             int padId) throws IOException {
        AtomicFiles.write(html, render(title, results, words, padId).getBytes(StandardCharsets.UTF_8));
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
