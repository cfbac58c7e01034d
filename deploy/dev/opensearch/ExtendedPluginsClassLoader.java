/*
 * The class loader OpenSearch puts between a plugin and the plugins it extends.
 * OpenSearch's distribution ships it in lib/opensearch-plugin-classloader-VERSION.jar,
 * which Maven Central does not carry, so deploy/dev/services compiles this
 * equivalent into a jar of that name (the name the server's security policy grants
 * "createClassLoader" to). OpenSearch calls create(parent, extendedLoaders).
 */
package org.opensearch.plugins;

import java.security.AccessController;
import java.security.PrivilegedAction;
import java.util.Collections;
import java.util.List;

public final class ExtendedPluginsClassLoader extends ClassLoader {

    private final List<ClassLoader> extended;

    private ExtendedPluginsClassLoader(ClassLoader parent, List<ClassLoader> extended) {
        super(parent);
        this.extended = Collections.unmodifiableList(extended);
    }

    /** Looks a class up in each extended plugin's loader, after the parent failed. */
    @Override
    protected Class<?> findClass(String name) throws ClassNotFoundException {
        for (ClassLoader loader : extended) {
            try {
                return loader.loadClass(name);
            } catch (ClassNotFoundException notThere) {
                // try the next extended plugin
            }
        }
        throw new ClassNotFoundException(name);
    }

    /** Returns a loader whose parent is parent and which falls back to the extended plugins' loaders. */
    @SuppressWarnings("removal")
    public static ExtendedPluginsClassLoader create(ClassLoader parent, List<ClassLoader> extendedLoaders) {
        return AccessController.doPrivileged(
            (PrivilegedAction<ExtendedPluginsClassLoader>) () -> new ExtendedPluginsClassLoader(parent, extendedLoaders));
    }
}
