package dev.soma.data;

import dev.soma.errors.ShapeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Image files to channels-last examples in [0, 1]: grey and RGB, PNG and JPEG, sizes, inversion and bad files. */
class ImageFilesTest {
    static Path write(Path dir, String name, String format, BufferedImage image) throws IOException {
        Path f = dir.resolve(name);
        assertTrue(ImageIO.write(image, format, f.toFile()), format);
        return f;
    }

    @Test
    void pngPixelsBecomeChannelsLastValues(@TempDir Path dir) throws IOException {
        BufferedImage img = new BufferedImage(3, 2, BufferedImage.TYPE_INT_RGB);
        img.setRGB(0, 0, 0xFF0000); // red at row 0, column 0
        img.setRGB(2, 1, 0xFFFFFF); // white at row 1, column 2
        img.setRGB(1, 0, 0x336699);
        Path f = write(dir, "a.png", "png", img);
        float[] rgb = ImageFiles.read(f, 2, 3, 3, false, false);
        assertEquals(2 * 3 * 3, rgb.length);
        assertArrayEquals(new float[] {1, 0, 0}, new float[] {rgb[0], rgb[1], rgb[2]});
        assertArrayEquals(new float[] {0x33 / 255f, 0x66 / 255f, 0x99 / 255f}, new float[] {rgb[3], rgb[4], rgb[5]}, 1e-6f);
        int white = (1 * 3 + 2) * 3;
        assertArrayEquals(new float[] {1, 1, 1}, new float[] {rgb[white], rgb[white + 1], rgb[white + 2]});
        float[] grey = ImageFiles.read(f, 2, 3, 1, false, false);
        assertEquals(6, grey.length);
        assertEquals(0.299, grey[0], 1e-6);
        assertEquals(1.0, grey[5], 1e-6);
        assertEquals(0.0, grey[2], 0);
        float[] inverted = ImageFiles.read(f, 2, 3, 1, false, true);
        assertEquals(1 - 0.299, inverted[0], 1e-6);
        assertEquals(1.0, inverted[2], 0);
    }

    @Test
    void greyJpegAndResizing(@TempDir Path dir) throws IOException {
        BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) img.getRaster().setSample(x, y, 0, 200);
        Path f = write(dir, "g.jpg", "jpg", img);
        float[] v = ImageFiles.read(f, 16, 16, 1, false, false);
        for (float p : v) assertEquals(200 / 255f, p, 3 / 255f, "JPEG is lossy, but a flat grey stays grey");
        float[] small = ImageFiles.read(f, 8, 8, 1, true, false);
        assertEquals(64, small.length);
        for (float p : small) assertEquals(200 / 255f, p, 3 / 255f);
        ShapeException e = assertThrows(ShapeException.class, () -> ImageFiles.read(f, 28, 28, 1, false, false));
        assertTrue(e.getMessage().contains("16x16") && e.getMessage().contains("28x28") && e.getMessage().contains("--resize"),
                e.getMessage());
    }

    @Test
    void bilinearResizingAlignsPixelCentres() {
        assertArrayEquals(new float[] {0, 0.25f, 0.75f, 1}, ImageFiles.bilinear(new float[] {0, 1}, 1, 2, 1, 1, 4), 1e-6f);
        assertArrayEquals(new float[] {0.5f}, ImageFiles.bilinear(new float[] {0, 1, 1, 0}, 2, 2, 1, 1, 1), 1e-6f);
    }

    @Test
    void badFilesAreNamed(@TempDir Path dir) throws IOException {
        Path text = Files.writeString(dir.resolve("notes.png"), "not an image");
        IOException e = assertThrows(IOException.class, () -> ImageFiles.read(text, 4, 4, 1, false, false));
        assertTrue(e.getMessage().contains("notes.png") && e.getMessage().contains("png"), e.getMessage());
        assertThrows(FileNotFoundException.class, () -> ImageFiles.read(dir.resolve("missing.png"), 4, 4, 1, false, false));
        IOException folder = assertThrows(IOException.class, () -> ImageFiles.read(dir, 4, 4, 1, false, false));
        assertTrue(folder.getMessage().contains("folder"), folder.getMessage());
        assertThrows(ShapeException.class, () -> ImageFiles.read(text, 4, 4, 2, false, false));
    }
}
