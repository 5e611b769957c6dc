package dev.soma.text;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import dev.soma.io.AtomicFiles;
import dev.soma.io.CorruptFileException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a character-level model's checkpoint needs beside it to be sampled: its architecture name, the window
 * length it was trained on and its characters in id order. Stored as {@value #FILE_NAME} in the run folder.
 */
public record CharModelInfo(String arch, int context, String characters) {
    public static final String FILE_NAME = "charlm.json";
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    public CharVocabulary vocabulary() {
        return CharVocabulary.fromCharacters(characters);
    }

    public void save(Path file) throws IOException {
        AtomicFiles.write(file, GSON.toJson(this).getBytes(StandardCharsets.UTF_8));
    }

    public static CharModelInfo load(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new java.io.FileNotFoundException(file + ": no character model description (written by 'soma train charlm')");
        }
        CharModelInfo info;
        try {
            info = GSON.fromJson(Files.readString(file, StandardCharsets.UTF_8), CharModelInfo.class);
        } catch (JsonParseException e) {
            throw new CorruptFileException(file, "not a character model description: " + e.getMessage(), e);
        }
        if (info == null || info.arch == null || info.characters == null || info.characters.isEmpty() || info.context < 1) {
            throw new CorruptFileException(file, "needs arch, context >= 1 and characters");
        }
        try {
            info.vocabulary();
        } catch (IllegalArgumentException e) {
            throw new CorruptFileException(file, e.getMessage(), e);
        }
        return info;
    }
}
