package dev.soma.nn;

import org.junit.jupiter.api.Test;

import java.io.File;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.net.URL;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fluent setters keep the concrete layer type (Keras users write {@code LSTM l = new LSTM(5).returnSequences(true)}):
 * chains on every layer type with setters, assigned to that type, and a scan of every layer class for a setter that
 * would hand back a supertype.
 */
class FluentSettersTest {
    @Test
    void chainedSettersAssignToTheConcreteType() {
        LSTM lstm = new LSTM(5).returnSequences(true).returnState(true).goBackwards(true).dropout(0.1)
                .recurrentDropout(0.2).activation("relu").recurrentActivation("hard_sigmoid").useBias(false);
        GRU gru = new GRU(4).returnSequences(true).resetAfter(false).dropout(0.3).returnState(true);
        GRU gru2 = new GRU(4).dropout(0.3).resetAfter(false);
        SimpleRNN rnn = new SimpleRNN(3).goBackwards(true).returnSequences(true).activation("relu");
        Dense dense = new Dense(8, "relu").useBias(true).kernelInitializer(Initializer.heNormal())
                .biasInitializer(Initializer.zeros()).kernelRegularizer(Regularizer.l2(0.01)).biasRegularizer(Regularizer.l1(0.1));
        Conv2D conv = new Conv2D(4, 3, "relu").strides(2).padding("same").dilation(1).useBias(false)
                .kernelRegularizer(Regularizer.l2(0.1));
        Conv2DTranspose deconv = new Conv2DTranspose(2, 3).strides(2).padding("same").useBias(true);
        MaxPooling2D max = new MaxPooling2D(2).strides(1).padding("same");
        AveragePooling2D avg = new AveragePooling2D(2).padding("valid").strides(2);
        Embedding emb = new Embedding(10, 4).embeddingsInitializer(Initializer.zeros());
        LayerNormalization ln = new LayerNormalization().center(false).scale(true);
        MultiHeadAttention mha = new MultiHeadAttention(2, 4).dropout(0.1).useBias(false).outputDim(6)
                .useCausalMask(true).useOutputProjection(true);

        // The chains really set what they say (a setter that returned a copy or ignored its value would fail here).
        assertEquals(true, lstm.config().get("return_sequences"));
        assertEquals(true, lstm.config().get("return_state"));
        assertEquals("hard_sigmoid", lstm.config().get("recurrent_activation"));
        assertEquals(0.2, lstm.config().get("recurrent_dropout"));
        assertEquals(false, gru.isResetAfter());
        assertEquals(false, gru2.isResetAfter());
        assertTrue(rnn.isGoBackwards() && rnn.isReturnSequences());
        assertEquals("same", conv.config().get("padding"));
        assertEquals(false, conv.config().get("use_bias"));
        assertEquals("same", deconv.config().get("padding"));
        assertEquals("same", max.config().get("padding"));
        assertEquals("valid", avg.config().get("padding"));
        assertEquals(false, ln.config().get("center"));
        assertEquals(6, mha.config().get("output_dim"));
        assertEquals(true, mha.config().get("use_causal_mask"));
        assertNotNull(dense.config());
        assertNotNull(emb.config());
        for (Layer l : new Layer[] {lstm, gru, gru2, rnn, dense, conv, deconv, max, avg, emb, ln, mha}) l.close();
    }

    @Test
    void noLayerSetterReturnsASupertype() throws Exception {
        List<Class<?>> layers = concreteLayerClasses();
        assertTrue(layers.size() >= 25, "found only " + layers.size() + " layer classes: " + layers);
        List<String> bad = new ArrayList<>();
        for (Class<?> c : layers) {
            for (Method m : c.getMethods()) {
                if (m.isBridge() || Modifier.isStatic(m.getModifiers()) || m.getParameterCount() == 0) continue;
                Class<?> raw = m.getReturnType();
                // A setter hands back the layer itself: any Layer type that the class is an instance of.
                if (!Layer.class.isAssignableFrom(raw) || !raw.isAssignableFrom(c)) continue;
                Type resolved = resolve(m.getGenericReturnType(), c);
                if (resolved != c) bad.add(c.getSimpleName() + "." + m.getName() + " returns " + resolved.getTypeName());
            }
        }
        assertTrue(bad.isEmpty(), "fluent setters that lose the concrete type: " + bad);
    }

    /** The return type with the class's type arguments substituted (T of ConvLayer2D<Conv2D> is Conv2D). */
    private static Type resolve(Type t, Class<?> c) {
        if (!(t instanceof TypeVariable<?> v)) return t;
        for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
            if (k.getGenericSuperclass() instanceof ParameterizedType p && p.getRawType() == v.getGenericDeclaration()) {
                TypeVariable<?>[] params = ((Class<?>) p.getRawType()).getTypeParameters();
                for (int i = 0; i < params.length; i++) {
                    if (params[i].getName().equals(v.getName())) return p.getActualTypeArguments()[i];
                }
            }
        }
        return t;
    }

    /** Every public, concrete Layer subclass compiled into dev/soma/nn. */
    static List<Class<?>> concreteLayerClasses() throws Exception {
        // The main classes' folder (the test classes share the package name, so a plain resource lookup may find those).
        URL root = Layer.class.getProtectionDomain().getCodeSource().getLocation();
        File dir = new File(new File(root.toURI()), "dev/soma/nn");
        assertTrue(dir.isDirectory(), dir + " is not a folder (are the classes in a jar?)");
        File[] files = dir.listFiles((d, n) -> n.endsWith(".class") && !n.contains("$"));
        List<Class<?>> out = new ArrayList<>();
        for (File f : files) {
            Class<?> c = Class.forName("dev.soma.nn." + f.getName().replace(".class", ""));
            if (Layer.class.isAssignableFrom(c) && !Modifier.isAbstract(c.getModifiers()) && Modifier.isPublic(c.getModifiers())) {
                out.add(c);
            }
        }
        return out;
    }
}
